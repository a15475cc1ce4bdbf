"""Plain functions for each ingest stage, composed by the Prefect tasks in flows/tasks.py.

They hold the glue between extractors/ and warehouse/ so that the tasks stay 3-10 lines and
the same code can be called without Prefect (tests call these directly).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from newswatch.core.errors import WarehouseLocked
from newswatch.core.records import (
    AlertRecord,
    ArticleAliasRecord,
    ArticleRecord,
    ExtractedArticle,
    FeedEntry,
    FeedPoll,
    FeedState,
    MentionRecord,
    PageFailureRecord,
    PageFetch,
    Source,
)
from newswatch.core.settings import Settings
from newswatch.extractors.alerts import AlertConfig, first_seen_alerts, story_alerts
from newswatch.extractors.batch import Judged
from newswatch.extractors.dedup import StoryIndex, signature
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.feed_state import due_sources, next_state
from newswatch.extractors.health import health_alerts, judge_feed
from newswatch.extractors.http import Fetcher, run_async
from newswatch.extractors.identity import Seen, StoredBody, copy_of, identity_of
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.page_retry import MAX_RETRIES_PER_RUN, is_due, next_failure, page_error
from newswatch.extractors.pool import extract_many
from newswatch.extractors.urls import article_id, normalise_url
from newswatch.warehouse import alert_queries, health_queries, queries

log = logging.getLogger("newswatch.ingest")
STORY_WINDOW = timedelta(days=30)
# Reads before the load all have a fallback (no conditional headers, drop repeats at load,
# group within the run): a held lock costs a few seconds each, not the load's wait
# (Settings.db_lock_wait, 30 s by default; a smaller setting shortens these too).
READ_LOCK_TIMEOUT = 5.0


def read_wait(settings: Settings) -> float:
    """How long a run's read before the load waits for a held DuckDB file."""
    return min(READ_LOCK_TIMEOUT, settings.db_lock_wait)


def read_feed_states(settings: Settings) -> dict[str, FeedState]:
    try:
        return queries.feed_states(settings.db_path, lock_timeout=read_wait(settings))
    except WarehouseLocked as exc:
        log.warning("feed state unavailable (%s); polling without conditional headers", exc)
        return {}


@dataclass(frozen=True)
class PollOutcome:
    polls: list[FeedPoll]
    states: list[FeedState]  # the next state of every polled feed
    skipped: list[Source]  # feeds still backing off after failures


def poll(
    sources: Sequence[Source],
    states: dict[str, FeedState],
    settings: Settings,
    *,
    respect_cadence: bool = False,
    max_feeds: int | None = None,
    force: bool = False,
) -> PollOutcome:
    """Poll every feed that is due once; return the polls and each feed's next state.

    ``respect_cadence`` also holds back healthy feeds until their cadence says due (the
    watch loop); ``max_feeds`` polls only the most overdue ones (small batches); ``force``
    polls every enabled feed, backing off or not (``run --force``).
    """
    due = due_sources(
        sources, states, datetime.now(UTC), respect_cadence=respect_cadence, force=force
    )
    if max_feeds:
        due = due[:max_feeds]

    async def go() -> list[FeedPoll]:
        async with Fetcher(settings) as fetcher:
            return await fetcher.poll_feeds(due, states)

    polls = run_async(go())
    now = datetime.now(UTC)
    new_states = [next_state(states.get(p.source_id), p, now, settings) for p in polls]
    due_ids = {s.id for s in due}
    return PollOutcome(polls, new_states, [s for s in sources if s.id not in due_ids])


def new_entries(
    polls: Sequence[FeedPoll], settings: Settings, *, retry_failed: bool = True
) -> list[FeedEntry]:
    """Entries whose link we have not stored yet (as an article or an alias), one per
    normalised link, plus the failed page fetches due again (``extractors/page_retry.py``),
    listed in a feed this time or not. A failed page not yet due, or given up, is skipped.
    ``retry_failed=False`` (backfill) leaves due retries to the ingest."""
    by_link: dict[str, FeedEntry] = {}
    for feed_poll in polls:
        for entry in feed_poll.entries:
            link = normalise_url(entry.link)
            if link and link not in by_link:
                by_link[link] = entry
    try:
        known = queries.known_urls(
            settings.db_path, list(by_link), lock_timeout=read_wait(settings)
        )
    except WarehouseLocked as exc:
        log.warning("known URLs unavailable (%s); the load will drop repeats", exc)
        known = set()
    now = datetime.now(UTC)
    try:
        failed, due = queries.page_failures(
            settings.db_path,
            list(by_link),
            now,
            due_limit=MAX_RETRIES_PER_RUN if retry_failed else 0,
            lock_timeout=read_wait(settings),
        )
    except WarehouseLocked as exc:
        log.warning("failed page fetches unavailable (%s); no retries this run", exc)
        failed, due = {}, []
    fresh = [
        entry
        for link, entry in by_link.items()
        if link not in known and (link not in failed or is_due(failed[link], now))
    ]
    fresh += [f.entry() for f in due if f.url not in by_link and f.url not in known]
    return fresh


def fetch(entries: Sequence[FeedEntry], settings: Settings) -> list[PageFetch]:
    async def go() -> list[PageFetch]:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch_pages([e.link for e in entries])

    return run_async(go())


def extract(
    pages: Sequence[PageFetch], entries: Sequence[FeedEntry], settings: Settings
) -> list[ExtractedArticle]:
    return extract_many(list(zip(pages, entries, strict=True)), workers=settings.workers)


def judge(
    entries: Sequence[FeedEntry],
    pages: Sequence[PageFetch],
    articles: Sequence[ExtractedArticle],
    matcher: Matcher,
    settings: Settings,
) -> list[Judged]:
    """Sort error pages out, recognise stored articles at new URLs (by canonical URL or by
    body from the same outlet: ``extractors/identity.py``), then match entities, score
    relevance and group near-duplicates into stories."""
    now = datetime.now(UTC)
    links = [normalise_url(e.link) for e in entries]
    errors = [page_error(p, a) for p, a in zip(pages, articles, strict=True)]
    sigs = [signature(a.text) for a in articles]
    idents = [
        identity_of(a.text, a.title, a.status, sig, a.content_hash) if err is None else None
        for a, sig, err in zip(articles, sigs, errors, strict=True)
    ]
    index = _story_index(settings, now)
    stored, alias_of_canonical, previous = _known_identities(
        settings, entries, articles, links, errors, idents, now
    )
    seen = Seen({s.article_id for s in stored}, alias_of_canonical, list(stored))
    out: list[Judged] = []
    for i, (entry, page, article) in enumerate(zip(entries, pages, articles, strict=True)):
        link, sig, ident, error = links[i], sigs[i], idents[i], errors[i]
        base = Judged(entry=entry, page=page, article=article, signature=sig)
        if error is not None:
            failure = next_failure(previous.get(link), entry, link, page, error, now)
            out.append(replace(base, outcome="failed", failure=failure))
            continue
        this_id = article_id(article.canonical_url)
        copy = copy_of(this_id, article.canonical_url, ident, entry.source_id, seen)
        if copy is not None:
            alias = ArticleAliasRecord(
                url=link,
                article_id=copy.article_id,
                source_id=entry.source_id,
                canonical_url=article.canonical_url,
                final_url=page.final_url,
                reason=copy.reason,
                similarity=copy.similarity,
                first_seen_at=now,
            )
            story = copy.story_id or index.story_of(copy.article_id) or copy.article_id
            out.append(
                replace(
                    base, article_id=copy.article_id, story_id=story, outcome="alias", alias=alias
                )
            )
            continue
        story_id = index.assign(this_id, sig)
        body_hash = ident.body_hash if ident else None
        content = ident.content_hash if ident else None
        seen.add(
            StoredBody(this_id, entry.source_id, story_id, article.title, body_hash, content, sig)
        )
        out.append(
            replace(
                base,
                match=matcher.match(article.text, title=article.title),
                article_id=this_id,
                story_id=story_id,
                body_hash=body_hash,
            )
        )
    return out


def _story_index(settings: Settings, now: datetime) -> StoryIndex:
    index = StoryIndex()
    try:
        for known_id, story_id, sig in queries.story_signatures(
            settings.db_path, now - STORY_WINDOW, lock_timeout=read_wait(settings)
        ):
            index.add(known_id, story_id, sig)
    except WarehouseLocked as exc:
        log.warning("story signatures unavailable (%s); grouping within this run only", exc)
    return index


def _known_identities(
    settings: Settings,
    entries: Sequence[FeedEntry],
    articles: Sequence[ExtractedArticle],
    links: Sequence[str],
    errors: Sequence[object | None],
    idents: Sequence[object | None],
    now: datetime,
) -> tuple[list[StoredBody], dict[str, str], dict[str, PageFailureRecord]]:
    """Stored articles new pages may be copies of, aliases by canonical URL, and the
    stored failures of the pages that failed again (for their attempt count)."""
    ok = [i for i, error in enumerate(errors) if error is None]
    failed_links = [links[i] for i, error in enumerate(errors) if error is not None]
    try:
        stored, aliases = queries.identity_candidates(
            settings.db_path,
            [article_id(articles[i].canonical_url) for i in ok],
            [getattr(idents[i], "body_hash", "") for i in ok if idents[i] is not None],
            [articles[i].content_hash or "" for i in ok if idents[i] is not None],
            [articles[i].canonical_url for i in ok],
            now - STORY_WINDOW,
            sorted({entries[i].source_id for i in ok}),
            lock_timeout=read_wait(settings),
        )
    except WarehouseLocked as exc:
        log.warning("stored articles unavailable (%s); identity within this run only", exc)
        stored, aliases = [], {}
    try:
        previous, _ = (
            queries.page_failures(
                settings.db_path, failed_links, now, due_limit=0, lock_timeout=read_wait(settings)
            )
            if failed_links
            else ({}, [])
        )
    except WarehouseLocked as exc:
        log.warning("failed page fetches unavailable (%s); counting from 1", exc)
        previous = {}
    return stored, aliases, previous


def raise_alerts(
    config: AlertConfig,
    articles: Sequence[ArticleRecord],
    mentions: Sequence[MentionRecord],
    catalogue: Catalogue,
    settings: Settings,
) -> list[AlertRecord]:
    """The alerts this batch raises; the load inserts each (rule, story, channel) once."""
    available = {c.name for c in config.channels if c.resolve(os.environ)}
    names = {e.id: e.name for e in catalogue.entities}
    now = datetime.now(UTC)
    try:
        known = alert_queries.mentioned_entities(settings.db_path, lock_timeout=read_wait(settings))
    except WarehouseLocked as exc:
        log.warning("known entities unavailable (%s); no first-seen alerts this run", exc)
        known = set(names)
    return [
        *story_alerts(config, articles, mentions, names, available, now),
        *first_seen_alerts(config, mentions, articles, known, names, available, now),
    ]


def feed_health_alerts(
    config: AlertConfig,
    states: Sequence[FeedState],
    sources: Sequence[Source],
    articles: Sequence[ArticleRecord],
    settings: Settings,
) -> list[AlertRecord]:
    """``feed_health`` alerts for the polled feeds that keep failing or went quiet; the
    outbox keeps one per (rule, episode, channel). Polling itself is not changed."""
    now = datetime.now(UTC)
    try:
        histories = health_queries.feed_histories(
            settings.db_path, lock_timeout=read_wait(settings)
        )
    except WarehouseLocked as exc:
        log.warning("feed history unavailable (%s); judging failures only", exc)
        histories = {}
    verdicts = []
    for state in states:
        history = histories.get(state.source_id)
        mine = [a for a in articles if a.source_id == state.source_id]
        dates = [*(history.entry_dates if history else ())]
        dates += [a.published_at for a in mine if a.date_method == "feed" and a.published_at]
        seen = [a.first_seen_at for a in mine]
        if history and history.last_new_at:
            seen.append(history.last_new_at)
        verdicts.append(judge_feed(state, dates, max(seen, default=None), now))
    available = {c.name for c in config.channels if c.resolve(os.environ)}
    return health_alerts(config, verdicts, sources, available, now)


__all__ = [
    "PollOutcome",
    "extract",
    "feed_health_alerts",
    "fetch",
    "judge",
    "new_entries",
    "poll",
    "raise_alerts",
    "read_feed_states",
    "run_async",
]
