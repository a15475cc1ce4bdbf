"""The decisions flows/stages.py hands to extractors/, tested on what a stage pre-reads:
``extractors/judging.py`` (error page, alias or new article, story), ``extractors/selection.py``
(which entries to fetch), ``health.feed_verdicts`` and ``IngestSummary.from_run``.

Real records throughout: the sample's pages extracted by trafilatura and matched with the
real catalogue; stored rows are what the warehouse's reads return (``StoredBody``,
``PageFailureRecord``, ``FeedHistory``), built here instead of read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from newswatch.core.records import FeedEntry, FeedPoll, FeedState, PageFetch, Source
from newswatch.core.settings import SAMPLE_DIR, Settings
from newswatch.core.summaries import IngestSummary
from newswatch.extractors.batch import assemble, run_record
from newswatch.extractors.entities import Catalogue, load_catalogue
from newswatch.extractors.health import feed_verdicts
from newswatch.extractors.identity import StoredBody
from newswatch.extractors.judging import Prepared, judge_pages, prepare
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.page_retry import next_failure, page_error
from newswatch.extractors.pages import extract_article
from newswatch.extractors.selection import entries_by_link, fresh_entries
from newswatch.extractors.sitemaps import parse_sitemap
from newswatch.extractors.urls import article_id, normalise_url
from newswatch.flows.alerting import SendReport
from newswatch.warehouse.health_queries import FeedHistory
from newswatch.warehouse.load import LoadReport

BASE = "https://sample.example"
OUTLET = "black-sea-bulletin"
OTHER = "caspian-ledger"
SITE = SAMPLE_DIR / "site"
NOW = datetime(2026, 9, 20, 6, 0, tzinfo=UTC)
SOURCES = (
    Source(OUTLET, "Black Sea Bulletin", f"{BASE}/{OUTLET}/rss.xml"),
    Source(OTHER, "Caspian Ledger", f"{BASE}/{OTHER}/rss.xml"),
)


def body_of(url: str) -> bytes:
    return (SITE / url.removeprefix(BASE + "/")).read_bytes().replace(b"{{BASE}}", BASE.encode())


def sample_entries() -> list[FeedEntry]:
    sitemap = (SITE / OUTLET / "sitemap.xml").read_bytes().replace(b"{{BASE}}", BASE.encode())
    return [
        FeedEntry(OUTLET, p.url, p.url, f"Item {i}", f"Summary {i}", p.published_at or NOW)
        for i, p in enumerate(parse_sitemap(sitemap, BASE).pages)
    ]


def fetched(entry: FeedEntry, body: bytes | None = None, status: int = 200) -> PageFetch:
    if status != 200:
        return PageFetch(entry.link, NOW, "error", entry.link, status, "text/html", b"", "x")
    body = body_of(entry.link) if body is None else body
    return PageFetch(entry.link, NOW, "ok", entry.link, 200, "text/html", body)


def batch(pairs: list[tuple[FeedEntry, PageFetch]]) -> Prepared:
    entries = [e for e, _ in pairs]
    pages = [p for _, p in pairs]
    articles = [extract_article(p.body or b"", url=e.link, entry=e) for e, p in pairs]
    return prepare(entries, pages, articles)


def moved(entry: FeedEntry, path: str, source_id: str = OUTLET) -> tuple[FeedEntry, PageFetch]:
    """The same page at another URL whose canonical link says that URL too (an outlet that
    changed its URL scheme): only the body can tell it is the same article."""
    url = f"{BASE}/{path}"
    body = body_of(entry.link).replace(
        entry.link.removeprefix(BASE).encode(), url.removeprefix(BASE).encode()
    )
    new = replace(entry, source_id=source_id, link=url, guid=url)
    return new, fetched(new, body)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def matcher(catalogue: Catalogue) -> Matcher:
    return Matcher(catalogue)


def test_with_nothing_stored_every_page_is_a_new_matched_article_in_its_own_story(
    matcher: Matcher,
) -> None:
    entries = sample_entries()
    prepared = batch([(e, fetched(e)) for e in entries])
    judged = judge_pages(prepared, matcher, NOW)
    assert [j.outcome for j in judged] == ["new"] * 3
    assert [j.article_id for j in judged] == [article_id(e.link) for e in entries]
    assert len({j.story_id for j in judged}) == 3
    assert [j.story_id for j in judged] == [j.article_id for j in judged]
    assert all(j.body_hash and len(j.body_hash) == 40 for j in judged)
    assert sum(j.match.on_topic for j in judged) >= 2  # shadow fleet, Geran strikes
    assert all(j.alias is None and j.failure is None for j in judged)


def test_prepared_asks_the_warehouse_about_article_pages_only() -> None:
    entries = sample_entries()
    gone = replace(entries[0], link=f"{BASE}/{OUTLET}/gone.html", guid="gone")
    prepared = batch([(entries[1], fetched(entries[1])), (gone, fetched(gone, status=404))])
    assert prepared.failed_links == [normalise_url(gone.link)]
    assert prepared.article_ids == [article_id(entries[1].link)]
    assert prepared.canonical_urls == [entries[1].link]
    assert prepared.source_ids == [OUTLET]
    assert len(prepared.body_hashes) == len(prepared.content_hashes) == 1
    assert prepared.identities[1] is None and prepared.errors[0] is None


def test_a_second_url_of_a_page_in_the_same_batch_is_an_alias_of_the_first(
    matcher: Matcher,
) -> None:
    first = sample_entries()[0]
    copy, page = moved(first, f"{OUTLET}/articles/shadow-fleet.html")
    judged = judge_pages(batch([(first, fetched(first)), (copy, page)]), matcher, NOW)
    assert [j.outcome for j in judged] == ["new", "alias"]
    alias = judged[1].alias
    assert alias is not None
    assert (alias.article_id, alias.reason, alias.similarity) == (
        judged[0].article_id,
        "same_body",
        1.0,
    )
    assert alias.url == normalise_url(copy.link) and alias.first_seen_at == NOW
    assert judged[1].story_id == judged[0].story_id
    assert judged[1].match.mentions == ()  # an alias is not matched again


def test_the_same_body_stored_from_the_same_outlet_makes_an_alias_in_the_stored_story(
    matcher: Matcher,
) -> None:
    first = sample_entries()[0]
    stored_page = batch([(first, fetched(first))])
    ident = stored_page.identities[0]
    assert ident is not None
    stored = [StoredBody("stored-id", OUTLET, "stored-story", "t", ident.body_hash)]
    copy, page = moved(first, f"{OUTLET}/articles/shadow-fleet.html")
    [alias] = judge_pages(batch([(copy, page)]), matcher, NOW, stored=stored)
    assert (alias.outcome, alias.article_id, alias.story_id) == (
        "alias",
        "stored-id",
        "stored-story",
    )
    # from another outlet the same body is syndication: a new article ...
    elsewhere, page = moved(first, f"{OTHER}/wire/shadow-fleet.html", OTHER)
    rows = [("stored-id", "stored-story", stored_page.signatures[0])]
    [new] = judge_pages(batch([(elsewhere, page)]), matcher, NOW, stored=stored, story_rows=rows)
    assert new.outcome == "new" and new.article_id == article_id(elsewhere.link)
    # ... in the stored article's story (near-duplicate signatures)
    assert new.story_id == "stored-story"


def test_a_canonical_url_stored_as_an_alias_points_at_its_article_and_its_story(
    matcher: Matcher,
) -> None:
    first = sample_entries()[0]
    sig = batch([(first, fetched(first))]).signatures[0]
    [judged] = judge_pages(
        batch([(first, fetched(first))]),
        matcher,
        NOW,
        story_rows=[("older-id", "older-story", sig)],
        alias_of_canonical={first.link: "older-id"},
    )
    assert (judged.outcome, judged.article_id, judged.story_id) == (
        "alias",
        "older-id",
        "older-story",
    )
    assert judged.alias is not None and judged.alias.reason == "same_url"


def test_an_error_page_is_a_failure_counted_from_its_stored_attempts(matcher: Matcher) -> None:
    entry = replace(sample_entries()[0], link=f"{BASE}/{OUTLET}/gone.html", guid="gone")
    page = fetched(entry, status=503)
    prepared = batch([(entry, page)])
    [first] = judge_pages(prepared, matcher, NOW)
    assert first.outcome == "failed" and first.failure is not None
    assert (first.failure.attempts, first.failure.url) == (1, normalise_url(entry.link))
    assert first.article_id == "" and first.match.mentions == ()
    error = page_error(page, prepared.articles[0])
    assert error is not None
    earlier = next_failure(None, entry, entry.link, page, error, NOW - timedelta(hours=1))
    earlier = next_failure(earlier, entry, entry.link, page, error, NOW - timedelta(minutes=30))
    link = normalise_url(entry.link)
    [again] = judge_pages(prepared, matcher, NOW, previous_failures={link: earlier})
    assert again.failure is not None and again.failure.attempts == 3
    assert again.failure.first_failed_at == NOW - timedelta(hours=1)


def poll_of(entries: list[FeedEntry]) -> FeedPoll:
    return FeedPoll(OUTLET, f"{BASE}/{OUTLET}/rss.xml", "ok", NOW, entries=tuple(entries))


def test_one_entry_per_normalised_link_the_first_poll_wins() -> None:
    entries = sample_entries()
    twin = replace(entries[0], link=entries[0].link + "#comments", title="later")
    by_link = entries_by_link([poll_of(entries), poll_of([twin, replace(twin, link="")])])
    assert list(by_link) == [normalise_url(e.link) for e in entries]
    assert by_link[normalise_url(entries[0].link)].title == "Item 0"


def test_fresh_entries_skip_stored_and_not_yet_due_links_and_add_due_retries() -> None:
    entries = sample_entries()
    by_link = entries_by_link([poll_of(entries)])
    links = list(by_link)
    gone = replace(entries[0], link=f"{BASE}/{OUTLET}/unlisted.html", guid="unlisted")
    page = fetched(gone, status=503)
    error = page_error(page, extract_article(b"", url=gone.link, entry=gone))
    assert error is not None
    waiting = next_failure(None, entries[1], links[1], page, error, NOW)  # next try later
    due = replace(
        next_failure(None, gone, normalise_url(gone.link), page, error, NOW),
        next_attempt_at=NOW - timedelta(minutes=1),
    )
    fresh = fresh_entries(by_link, {links[0]}, {links[1]: waiting}, [due], NOW)
    assert [e.link for e in fresh] == [entries[2].link, gone.link]
    # a waiting failure whose time has come is fetched again
    ready = replace(waiting, next_attempt_at=NOW)
    assert [e.link for e in fresh_entries(by_link, set(), {links[1]: ready}, [], NOW)] == [
        e.link for e in entries
    ]


def test_feed_verdicts_join_the_stored_history_with_this_runs_articles(matcher: Matcher) -> None:
    entries = sample_entries()
    judged = judge_pages(batch([(e, fetched(e)) for e in entries]), matcher, NOW)
    articles = assemble(judged, SOURCES, NOW).articles
    hourly = tuple(NOW - timedelta(days=30, hours=h) for h in range(10))
    quiet_since = NOW - timedelta(days=30)
    states = [FeedState(OUTLET), FeedState(OTHER), FeedState("never-stored")]
    histories = {s: FeedHistory(hourly, quiet_since) for s in (OUTLET, OTHER)}
    verdicts = feed_verdicts(states, histories, articles, NOW)
    assert [v.source_id for v in verdicts] == [OUTLET, OTHER, "never-stored"]
    # this run's new articles count as a new entry seen now: not quiet
    assert [v.status for v in verdicts] == ["ok", "quiet", "unknown"]
    assert verdicts[1].episode == "2026-08-21T06:00Z"
    # without them the same history is quiet
    assert feed_verdicts(states[:1], histories, [], NOW)[0].status == "quiet"


def test_ingest_summary_from_run_takes_counts_from_the_run_the_load_and_the_send(
    catalogue: Catalogue, matcher: Matcher
) -> None:
    entries = sample_entries()
    assembled = assemble(
        judge_pages(batch([(e, fetched(e)) for e in entries]), matcher, NOW), SOURCES, NOW
    )
    polls = [
        poll_of(entries),
        FeedPoll(OTHER, f"{BASE}/{OTHER}/rss.xml", "error", NOW, error="timeout"),
    ]
    run = run_record(assembled, NOW, catalogue, Settings(), "flow-run", polls)
    load = LoadReport(1, 0, 2, 9, locked=False, message="loaded 1 batch")
    sent = SendReport(sent=4, failed=1, errors=("ops: refused",))
    summary = IngestSummary.from_run(
        run,
        load,
        sent,
        feeds_skipped=5,
        new_entries=3,
        stories=assembled.stories,
        alerts_raised=6,
        failed_feeds=[(OTHER, "timeout")],
        seconds=1.5,
    )
    assert summary == IngestSummary(
        run_id=run.run_id,
        feeds_polled=2,
        feeds_failed=1,
        feeds_unchanged=0,
        feeds_skipped=5,
        new_entries=3,
        new_articles=2,  # what the load added, not what was assembled
        on_topic_articles=run.on_topic_articles,
        mentions=9,
        stories=3,
        batches_loaded=1,
        batches_left=0,
        load_message="loaded 1 batch",
        alerts_raised=6,
        alerts_sent=4,
        alerts_failed=1,
        alert_errors=("ops: refused",),
        failed_feeds=((OTHER, "timeout"),),
        seconds=1.5,
    )
    assert summary.failure_reason() is None
