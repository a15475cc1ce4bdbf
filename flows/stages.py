"""Plain functions for each ingest stage, composed by the Prefect tasks in flows/tasks.py.

They hold the glue between extractors/ and warehouse/ so that the tasks stay 3-10 lines and
the same code can be called without Prefect (tests call these directly): each reads what it
needs from the warehouse (with a logged fallback when the file is locked), calls the pure
decision in extractors/ (``selection.py``, ``judging.py``, ``alerts.py``, ``health.py``) and
returns its records.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from newswatch.core.errors import WarehouseLocked
from newswatch.core.records import (
    AlertRecord,
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
from newswatch.extractors import gdelt, gnews
from newswatch.extractors.alerts import AlertConfig, first_seen_alerts, story_alerts
from newswatch.extractors.batch import Judged
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.feed_state import due_sources, next_due_at, next_state
from newswatch.extractors.health import feed_verdicts, health_alerts
from newswatch.extractors.http import Fetcher, run_async
from newswatch.extractors.identity import StoredBody
from newswatch.extractors.judging import Prepared, judge_pages, prepare
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.page_retry import MAX_RETRIES_PER_RUN
from newswatch.extractors.pool import extract_many
from newswatch.extractors.selection import entries_by_link, fresh_entries
from newswatch.warehouse import alert_queries, gnews_links, health_queries, queries

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
    next_poll_at: datetime | None = None  # when the next feed is due (None: one is due now)


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
    polls every enabled feed, backing off or not (``run --force``). Under
    ``respect_cadence`` the interval bounds of ``settings`` apply to every feed's stored
    cadence, so new bounds reach feeds scheduled under old ones.
    """
    bounds = (settings.min_poll_interval, settings.max_poll_interval)
    due = due_sources(
        sources,
        states,
        datetime.now(UTC),
        respect_cadence=respect_cadence,
        force=force,
        bounds=bounds if respect_cadence else None,
    )
    if max_feeds:
        due = due[:max_feeds]

    async def go() -> list[FeedPoll]:
        # GDELT DOC sources are paced to GDELT's one request per 5 s (extractors/gdelt.py)
        api = [s for s in due if s.kind == gdelt.KIND]
        feeds = [s for s in due if s.kind != gdelt.KIND]
        async with Fetcher(settings) as fetcher:
            polled = await asyncio.gather(
                fetcher.poll_feeds(feeds, states), gdelt.poll_sources(settings, api, states)
            )
        by_id = {p.source_id: p for p in (*polled[0], *polled[1])}
        return [by_id[s.id] for s in due]

    polls = run_async(go())
    now = datetime.now(UTC)
    new_states = [next_state(states.get(p.source_id), p, now, settings) for p in polls]
    due_ids = {s.id for s in due}
    after = {**states, **{state.source_id: state for state in new_states}}
    return PollOutcome(
        polls,
        new_states,
        [s for s in sources if s.id not in due_ids],
        next_due_at(sources, after, bounds if respect_cadence else None),
    )


def new_entries(
    polls: Sequence[FeedPoll], settings: Settings, *, retry_failed: bool = True
) -> list[FeedEntry]:
    """Entries whose link we have not stored yet (as an article or an alias), one per
    normalised link, plus the failed page fetches due again (``extractors/page_retry.py``),
    listed in a feed this time or not. A failed page not yet due, or given up, is skipped
    (``extractors/selection.py`` decides on what is read here).
    ``retry_failed=False`` (backfill) leaves due retries to the ingest.
    A Google News link decoded on an earlier run (the ``gnews_links`` cache) stands for
    its publisher's URL here: the stored article is recognised without asking Google."""
    by_link = entries_by_link(gnews.relink_polls(polls, _cached_publishers(polls, settings)))
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
    return fresh_entries(by_link, known, failed, due, now)


def _cached_publishers(polls: Sequence[FeedPoll], settings: Settings) -> dict[str, str]:
    links = gnews.google_links((e.link for p in polls for e in p.entries), settings.gnews_base_url)
    if not links:
        return {}
    try:
        return gnews_links.publishers(settings.db_path, links, lock_timeout=read_wait(settings))
    except WarehouseLocked as exc:
        log.warning("decoded Google News links unavailable (%s); decoding them again", exc)
        return {}


def fetch(entries: Sequence[FeedEntry], settings: Settings) -> list[PageFetch]:
    """One page per entry, in order. A Google News link is decoded first
    (``extractors/gnews.py``) and its publisher's page fetched, so that page's ``url`` is
    the publisher URL (``gnews.followed`` relinks the entries to it); a refused decode is a
    failed page. Each decode is cached in the warehouse at once (``gnews_links``)."""
    base, rate = settings.gnews_base_url, settings.gnews_decodes_per_second

    async def go() -> tuple[list[PageFetch], list[gnews.Decode]]:
        async with Fetcher(settings) as fetcher:
            return await gnews.fetch_pages(fetcher, [e.link for e in entries], base, rate)

    pages, decodes = run_async(go())
    decoded = [(d.link, d.publisher_url, d.decoded_at) for d in decodes if d.publisher_url]
    refused = len(decodes) - len(decoded)
    if decodes:
        log.info("Google News links: %d decoded, %d refused", len(decoded), refused)
    if decoded:
        try:
            gnews_links.record(settings.db_path, decoded, lock_timeout=read_wait(settings))
        except WarehouseLocked as exc:
            log.warning("decoded Google News links not cached (%s); decoded again later", exc)
    return pages


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
    relevance and group near-duplicates into stories (``extractors/judging.py``), against
    what the warehouse holds (each read with a fallback when the file is locked).
    An entry whose Google News link was decoded is judged at its publisher's URL."""
    now = datetime.now(UTC)
    prepared = prepare(gnews.followed(entries, pages), pages, articles)
    story_rows = _story_candidates(settings, prepared.signatures, now)
    stored, alias_of_canonical = _identity_candidates(settings, prepared, now)
    previous = _previous_failures(settings, prepared.failed_links, now)
    return judge_pages(
        prepared,
        matcher,
        now,
        story_rows=story_rows,
        stored=stored,
        alias_of_canonical=alias_of_canonical,
        previous_failures=previous,
    )


def _story_candidates(
    settings: Settings, signatures: Sequence[tuple[int, ...]], now: datetime
) -> list[tuple[str, str, tuple[int, ...]]]:
    """The stored articles of the story window sharing an LSH band with a new page."""
    try:
        return queries.story_candidates(
            settings.db_path, signatures, now - STORY_WINDOW, lock_timeout=read_wait(settings)
        )
    except WarehouseLocked as exc:
        log.warning("story signatures unavailable (%s); grouping within this run only", exc)
        return []


def _identity_candidates(
    settings: Settings, prepared: Prepared, now: datetime
) -> tuple[list[StoredBody], dict[str, str]]:
    """Stored articles the new pages may be copies of, and aliases by canonical URL."""
    try:
        return queries.identity_candidates(
            settings.db_path,
            prepared.article_ids,
            prepared.body_hashes,
            prepared.content_hashes,
            prepared.canonical_urls,
            now - STORY_WINDOW,
            prepared.source_ids,
            lock_timeout=read_wait(settings),
        )
    except WarehouseLocked as exc:
        log.warning("stored articles unavailable (%s); identity within this run only", exc)
        return [], {}


def _previous_failures(
    settings: Settings, failed_links: Sequence[str], now: datetime
) -> dict[str, PageFailureRecord]:
    """The stored failures of the pages that failed again (for their attempt count)."""
    if not failed_links:
        return {}
    try:
        previous, _ = queries.page_failures(
            settings.db_path, failed_links, now, due_limit=0, lock_timeout=read_wait(settings)
        )
    except WarehouseLocked as exc:
        log.warning("failed page fetches unavailable (%s); counting from 1", exc)
        return {}
    return previous


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
    verdicts = feed_verdicts(states, histories, articles, now)
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
