"""extractors/batch.py, extractors/sitemap_crawl.py and core/summaries.py: what the ingest
and backfill flows share, tested without Prefect.

Real records throughout: the sample's pages extracted by trafilatura, matched against the
real catalogue, assembled, and loaded into a real DuckDB file.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.core.errors import ConfigError
from newswatch.core.records import (
    AlertRecord,
    ArticleAliasRecord,
    FeedEntry,
    FeedPoll,
    FeedState,
    PageFetch,
    Source,
)
from newswatch.core.settings import SAMPLE_DIR, Settings
from newswatch.core.summaries import BackfillSummary, IngestSummary
from newswatch.extractors import sitemap_crawl
from newswatch.extractors.batch import (
    Assembled,
    Judged,
    assemble,
    chunks,
    failed_feeds,
    history_batch,
    ingest_batch,
    new_run_id,
    run_record,
)
from newswatch.extractors.dedup import signature
from newswatch.extractors.emerging import emerging_term_records
from newswatch.extractors.entities import Catalogue, load_catalogue
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.page_retry import next_failure, page_error
from newswatch.extractors.pages import extract_article
from newswatch.extractors.provenance import settings_json
from newswatch.extractors.sitemaps import parse_sitemap
from newswatch.extractors.urls import article_id
from newswatch.warehouse.load import load_staged, stage_batch

BASE = "https://sample.example"
OUTLET = "black-sea-bulletin"
SITE = SAMPLE_DIR / "site"
STARTED = datetime(2026, 9, 20, 6, 0, tzinfo=UTC)
SOURCES = (Source(OUTLET, "Black Sea Bulletin", f"{BASE}/{OUTLET}/rss.xml"),)


def page_body(url: str) -> bytes:
    body = (SITE / url.removeprefix(BASE + "/")).read_bytes()
    return body.replace(b"{{BASE}}", BASE.encode())


def sitemap_of(outlet: str) -> bytes:
    return (SITE / outlet / "sitemap.xml").read_bytes().replace(b"{{BASE}}", BASE.encode())


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def judged(catalogue: Catalogue) -> list[Judged]:
    """The outlet's three sample pages judged new, one more URL of the first as an alias,
    and a 404 as a failed fetch: what match-and-group hands the batch assembly."""
    listed = parse_sitemap(sitemap_of(OUTLET), BASE).pages
    entries = [
        FeedEntry(OUTLET, p.url, p.url, f"Item {i}", f"Summary {i}", p.published_at or STARTED)
        for i, p in enumerate(listed)
    ]
    matcher = Matcher(catalogue)
    out = []
    for entry in entries:
        page = PageFetch(
            entry.link, STARTED, "ok", entry.link, 200, "text/html", page_body(entry.link)
        )
        article = extract_article(page.body, url=entry.link, entry=entry)
        out.append(
            Judged(
                entry=entry,
                page=page,
                article=article,
                signature=signature(article.text),
                match=matcher.match(article.text, title=article.title),
                article_id=article_id(article.canonical_url),
                story_id=article_id(article.canonical_url),
                body_hash="b" * 40,
            )
        )
    first = out[0]
    moved = f"{BASE}/{OUTLET}/moved.html"
    alias = ArticleAliasRecord(
        url=moved,
        article_id=first.article_id,
        source_id=OUTLET,
        canonical_url=first.article.canonical_url,
        final_url=moved,
        reason="same_body",
        similarity=1.0,
        first_seen_at=STARTED,
    )
    out.append(
        replace(
            first,
            entry=replace(first.entry, link=moved, guid=moved),
            outcome="alias",
            alias=alias,
        )
    )
    gone = FeedEntry(OUTLET, "gone", f"{BASE}/{OUTLET}/gone.html", "Gone", "Summary", STARTED)
    page = PageFetch(gone.link, STARTED, "error", gone.link, 404, error="HTTP 404")
    article = extract_article(None, url=gone.link, entry=gone)
    error = page_error(page, article)
    assert error is not None
    failure = next_failure(None, gone, gone.link, page, error, STARTED)
    out.append(
        Judged(gone, page, article, signature(article.text), outcome="failed", failure=failure)
    )
    return out


@pytest.fixture(scope="module")
def assembled(judged: list[Judged]) -> Assembled:
    return assemble(judged, SOURCES, STARTED)


# ----------------------------------------------------------------- rows of a batch


def test_only_new_pages_become_articles_with_their_mentions(
    judged: list[Judged], assembled: Assembled
) -> None:
    new = [j for j in judged if j.outcome == "new"]
    assert [a.article_id for a in assembled.articles] == [j.article_id for j in new]
    assert len(assembled.mentions) == sum(len(j.match.mentions) for j in new) > 0
    assert {m.article_id for m in assembled.mentions} <= {j.article_id for j in new}
    article = assembled.articles[0]
    assert article.outlet == "Black Sea Bulletin"  # the source's name, not its id
    assert article.first_seen_at == STARTED and article.summary == "Summary 0"
    assert article.title and "tanker" in article.text.lower()
    assert article.story_signature == new[0].signature and article.body_hash == "b" * 40
    assert assembled.on_topic == sum(j.match.on_topic for j in new)
    assert assembled.stories == len(new)  # each its own story here


def test_aliases_and_failed_fetches_become_their_own_rows_not_articles(
    judged: list[Judged], assembled: Assembled
) -> None:
    (alias,) = assembled.aliases
    assert alias.url.endswith("/moved.html") and alias.article_id == judged[0].article_id
    (failure,) = assembled.page_failures
    assert failure.url.endswith("/gone.html") and failure.attempts == 1
    assert not any(a.url.endswith(("/moved.html", "/gone.html")) for a in assembled.articles)


def test_an_unknown_source_keeps_its_id_as_the_outlet(judged: list[Judged]) -> None:
    assert {a.outlet for a in assemble(judged, (), STARTED).articles} == {OUTLET}


def test_run_record_counts_the_polls_and_records_what_reproduces_the_run(
    assembled: Assembled, catalogue: Catalogue
) -> None:
    polls = [
        FeedPoll("a", "https://a.example/feed", "ok", STARTED),
        FeedPoll("b", "https://b.example/feed", "not_modified", STARTED),
        FeedPoll("c", "https://c.example/feed", "error", STARTED, error="HTTP 503"),
        FeedPoll("d", "https://d.example/feed", "error", STARTED),
    ]
    settings = Settings(max_entries_per_feed=7)
    run = run_record(assembled, STARTED, catalogue, settings, "flow-1", polls)
    assert (run.feeds_polled, run.feeds_failed, run.feeds_unchanged) == (4, 2, 1)
    assert run.errors == ("c: HTTP 503", "d: error")
    assert run.new_articles == len(assembled.articles)
    assert run.on_topic_articles == assembled.on_topic
    assert run.mentions == len(assembled.mentions)
    assert run.flow_run_id == "flow-1" and run.catalogue_version == catalogue.version
    assert run.started_at == STARTED and run.finished_at and run.finished_at > STARTED
    assert run.settings_json == settings_json(settings)
    assert json.loads(run.settings_json)["max_entries_per_feed"] == 7
    assert "duckdb" in json.loads(run.package_versions or "{}")
    assert run.run_id.startswith("20260920T060000-")


def test_a_backfill_run_record_has_no_feed_counts(
    assembled: Assembled, catalogue: Catalogue
) -> None:
    run = run_record(assembled, STARTED, catalogue, Settings(), None)
    assert (run.feeds_polled, run.feeds_failed, run.feeds_unchanged, run.errors) == (0, 0, 0, ())


def test_failed_feeds_in_poll_order_with_a_default_error() -> None:
    polls = [
        FeedPoll("z", "u", "error", STARTED, error="timeout"),
        FeedPoll("a", "u", "ok", STARTED),
        FeedPoll("m", "u", "error", STARTED),
    ]
    assert failed_feeds(polls) == (("z", "timeout"), ("m", "error"))


def test_run_ids_sort_by_start_and_differ_for_any_other_start() -> None:
    first = new_run_id(STARTED)
    assert re.fullmatch(r"20260920T060000-[0-9a-f]{8}", first)
    assert sorted([new_run_id(STARTED + timedelta(seconds=1)), first])[0] == first
    assert first != new_run_id(STARTED + timedelta(microseconds=1))  # same second, own salt


# ----------------------------------------------------------------- the batch itself


def test_a_history_batch_carries_rows_but_no_alerts_polls_or_emerging_terms(
    assembled: Assembled, catalogue: Catalogue
) -> None:
    run = run_record(assembled, STARTED, catalogue, Settings(), None)
    batch = history_batch(assembled, run, catalogue, SOURCES)
    assert batch.articles == assembled.articles and batch.mentions == assembled.mentions
    assert batch.aliases == assembled.aliases and batch.page_failures == assembled.page_failures
    assert batch.sources == SOURCES and batch.entities == catalogue.entities
    assert (batch.alerts, batch.feed_polls, batch.feed_states, batch.emerging_terms) == (
        (),
        (),
        (),
        (),
    )


def test_an_ingest_batch_adds_polls_states_alerts_and_the_runs_emerging_terms(
    assembled: Assembled, catalogue: Catalogue
) -> None:
    poll = FeedPoll(OUTLET, SOURCES[0].url, "ok", STARTED)
    state = FeedState(OUTLET, last_status="ok", last_polled_at=STARTED)
    alert = AlertRecord(
        alert_id="a" * 40,
        rule="every-story",
        kind="new_story",
        story_id=assembled.articles[0].story_id,
        channel="file",
        delivery="immediate",
        created_at=STARTED,
    )
    run = run_record(assembled, STARTED, catalogue, Settings(), None, [poll])
    batch = ingest_batch(assembled, run, catalogue, SOURCES, [poll], [state], [alert])
    assert (batch.feed_polls, batch.feed_states, batch.alerts) == ((poll,), (state,), (alert,))
    expected = emerging_term_records(assembled.articles, catalogue, run.run_id, STARTED)
    assert batch.emerging_terms == tuple(expected)
    assert batch.articles == history_batch(assembled, run, catalogue, SOURCES).articles


def test_an_assembled_batch_loads_into_a_real_warehouse(
    assembled: Assembled, catalogue: Catalogue, tmp_path: Path
) -> None:
    run = run_record(assembled, STARTED, catalogue, Settings(), None)
    db, staging = tmp_path / "nw.duckdb", tmp_path / "staging"
    stage_batch(history_batch(assembled, run, catalogue, SOURCES), staging)
    report = load_staged(db, staging)
    assert report.batches_loaded == 1 and report.batches_left == 0
    assert report.articles_added == len(assembled.articles)
    assert report.mentions_added == len(assembled.mentions)
    with duckdb.connect(str(db), read_only=True) as con:
        counts = [
            con.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
            for table in ("article_aliases", "page_failures", "alerts")
        ]
        (stored_run,) = con.execute("select run_id, new_articles from runs").fetchall()
    assert counts == [1, 1, 0]
    assert stored_run == (run.run_id, len(assembled.articles))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (2, [[1, 2], [3, 4], [5]]),
        (5, [[1, 2, 3, 4, 5]]),
        (9, [[1, 2, 3, 4, 5]]),
        (0, [[1], [2], [3], [4], [5]]),
    ],
)
def test_chunks_keep_order_and_size(size: int, expected: list[list[int]]) -> None:
    assert list(chunks([1, 2, 3, 4, 5], size)) == expected


def test_chunks_of_nothing_are_none() -> None:
    assert list(chunks([], 3)) == []


# ----------------------------------------------------------------- what a backfill reads


def test_choose_sources_defaults_to_enabled_sources_with_a_sitemap() -> None:
    sources = [
        Source("a", "A", "https://a.example/feed", sitemap="https://a.example/sitemap.xml"),
        Source("b", "B", "https://b.example/feed"),
        Source("c", "C", "https://c.example/feed", enabled=False, sitemap="https://c.example/s"),
    ]
    assert [s.id for s in sitemap_crawl.choose_sources(sources, None)] == ["a"]
    # asked for by id: a disabled source is taken, a repeat once
    assert [s.id for s in sitemap_crawl.choose_sources(sources, ["c", "a", "c"])] == ["c", "a"]
    with pytest.raises(ConfigError, match="unknown source id"):
        sitemap_crawl.choose_sources(sources, ["nope"])
    with pytest.raises(ConfigError, match="without a sitemap: b"):
        sitemap_crawl.choose_sources(sources, ["a", "b"])


def test_parse_day_takes_whole_days_and_iso_timestamps() -> None:
    assert sitemap_crawl.parse_day("2026-07-01") == datetime(2026, 7, 1, tzinfo=UTC)
    end = sitemap_crawl.parse_day("2026-07-01", end_of_day=True)
    assert end == datetime(2026, 7, 1, 23, 59, 59, 999999, tzinfo=UTC)
    stamp = sitemap_crawl.parse_day("2026-07-01T12:00:00+02:00", end_of_day=True)
    assert stamp == datetime(2026, 7, 1, 10, tzinfo=UTC)
    with pytest.raises(ConfigError, match="not a date"):
        sitemap_crawl.parse_day("last spring")


def discovery(outlet: str, errors: tuple[str, ...] = ()) -> sitemap_crawl.Discovery:
    pages = parse_sitemap(sitemap_of(outlet), BASE).pages
    return sitemap_crawl.Discovery(outlet, f"{BASE}/{outlet}/sitemap.xml", pages, 1, errors)


def test_listing_keeps_pages_in_range_one_poll_per_source() -> None:
    found = [discovery(OUTLET), discovery("caspian-ledger", ("caspian-ledger: x: HTTP 500",))]
    since, until = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 31, 23, 59, tzinfo=UTC)
    listing = sitemap_crawl.listing(found, since, until, STARTED)
    assert listing.listed == sum(len(d.pages) for d in found)
    assert [p.source_id for p in listing.polls] == [OUTLET, "caspian-ledger"]
    assert all(p.status == "ok" and p.fetched_at == STARTED for p in listing.polls)
    kept = [e for p in listing.polls for e in p.entries]
    assert listing.in_range == len(kept) > 0
    assert all(since <= e.published_at <= until for e in kept if e.date_flag == "sitemap")
    assert any(e.link.endswith("odesa-port-geran-strikes.html") for e in kept)
    assert sitemap_crawl.sitemap_errors(found) == ("caspian-ledger: x: HTTP 500",)


def test_selection_is_newest_first_undated_last() -> None:
    def entry(link: str, day: int | None) -> FeedEntry:
        when = datetime(2026, 8, day, tzinfo=UTC) if day else STARTED
        flag = "sitemap" if day else "missing"
        return FeedEntry("s", link, link, "", "", when, date_flag=flag)

    fresh = [entry("u1", None), entry("b", 3), entry("a", 3), entry("c", 9), entry("u0", None)]
    listed = sitemap_crawl.Listing(polls=(), listed=9, in_range=7)
    chosen = sitemap_crawl.selection(listed, fresh)
    assert [e.link for e in chosen.entries] == ["c", "a", "b", "u0", "u1"]
    assert (chosen.listed, chosen.in_range, chosen.undated) == (9, 7, 2)


# ----------------------------------------------------------------- the summaries


def ingest_summary(**changes: object) -> IngestSummary:
    base = IngestSummary(
        run_id="20260920T060000-abcdef12",
        feeds_polled=5,
        feeds_failed=0,
        feeds_unchanged=1,
        feeds_skipped=2,
        new_entries=3,
        new_articles=3,
        on_topic_articles=2,
        mentions=9,
        stories=3,
        batches_loaded=1,
        batches_left=0,
        load_message="loaded 1 batch(es)",
        alerts_raised=2,
        alerts_sent=2,
        alerts_failed=0,
        alert_errors=(),
        failed_feeds=(),
        seconds=1.25,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_run_with_some_failed_feeds_did_not_fail_its_purpose() -> None:
    summary = ingest_summary(feeds_failed=1, failed_feeds=(("a", "HTTP 503"),))
    assert not summary.every_feed_failed and summary.failure_reason() is None
    assert "- `a`: HTTP 503" in summary.to_markdown()


def test_every_feed_failed_names_three_and_counts_the_rest() -> None:
    failed = tuple((f"s{i}", "refused") for i in range(5))
    summary = ingest_summary(feeds_failed=5, failed_feeds=failed)
    assert summary.every_feed_failed
    assert summary.failure_reason() == (
        "every polled source failed (5 of 5): s0: refused; s1: refused; s2: refused; and 2 more"
    )
    assert not ingest_summary(feeds_polled=0, feeds_failed=0).every_feed_failed


def test_a_batch_left_staged_is_a_failure_with_the_load_message() -> None:
    summary = ingest_summary(batches_left=1, load_message="warehouse locked")
    assert summary.failure_reason() == "batch not loaded: warehouse locked"


def test_ingest_failed_keeps_its_typed_summary_through_pickle() -> None:
    from newswatch.flows.ingest import IngestFailed

    summary = ingest_summary(batches_left=1)
    failed = pickle.loads(pickle.dumps(IngestFailed("batch not loaded", summary, OSError())))
    assert failed.summary == summary and failed.reason == "batch not loaded"
    assert failed.load_error is None  # in-process only


def test_backfill_summary_markdown_lists_sitemap_problems() -> None:
    summary = BackfillSummary(
        sources=2,
        sitemaps_read=3,
        sitemap_errors=("gone: https://x/sitemap.xml: HTTP 404",),
        urls_listed=10,
        urls_in_range=8,
        undated_kept=1,
        already_stored=2,
        pages_to_fetch=6,
        pages_failed=0,
        batches=1,
        articles_added=6,
        on_topic_articles=4,
        mentions_added=20,
        batches_left=0,
        extraction="in-process",
        seconds=2.0,
    )
    text = summary.to_markdown()
    assert "| 3 | 10 | 8 | 1 | 2 | 6 | 0 | 6 | 4 | 1 | in-process | 2.0 |" in text
    assert "- gone: https://x/sitemap.xml: HTTP 404" in text
