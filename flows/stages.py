"""Plain functions for each ingest stage, composed by the Prefect tasks in flows/tasks.py.

They hold the glue between extractors/ and warehouse/ so that the tasks stay 3-10 lines and
the same code can be called without Prefect (tests call these directly).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
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
    MatchResult,
    MentionRecord,
    PageFailureRecord,
    PageFetch,
    Source,
)
from newswatch.core.settings import Settings
from newswatch.extractors.alerts import AlertConfig, first_seen_alerts, story_alerts
from newswatch.extractors.date_trust import date_confidence, date_flag
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


NO_MATCH = MatchResult(mentions=(), relevance=0.0, on_topic=False)


@dataclass(frozen=True)
class Judged:
    """One fetched page, judged: a new article (with its matches and story), another URL of
    a stored article (``alias``), or an error page to fetch again (``failure``)."""

    entry: FeedEntry
    page: PageFetch
    article: ExtractedArticle
    match: MatchResult
    article_id: str  # for an alias: the stored article it is a copy of
    story_id: str
    signature: tuple[int, ...]
    outcome: str = "new"  # new | alias | failed
    body_hash: str | None = None
    alias: ArticleAliasRecord | None = None
    failure: PageFailureRecord | None = None


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
        base = {"entry": entry, "page": page, "article": article, "signature": sig}
        if error is not None:
            failure = next_failure(previous.get(link), entry, link, page, error, now)
            out.append(
                Judged(
                    **base,
                    match=NO_MATCH,
                    article_id="",
                    story_id="",
                    outcome="failed",
                    failure=failure,
                )
            )
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
                Judged(
                    **base,
                    match=NO_MATCH,
                    article_id=copy.article_id,
                    story_id=story,
                    outcome="alias",
                    alias=alias,
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
            Judged(
                **base,
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


def to_records(
    judged: Sequence[Judged], outlets: dict[str, str], first_seen_at: datetime
) -> tuple[list[ArticleRecord], list[MentionRecord]]:
    """Article and mention rows of the new articles (aliases and error pages have none)."""
    articles: list[ArticleRecord] = []
    mentions: list[MentionRecord] = []
    for item in (j for j in judged if j.outcome == "new"):
        a = item.article
        articles.append(
            ArticleRecord(
                article_id=item.article_id,
                source_id=item.entry.source_id,
                outlet=outlets.get(item.entry.source_id, item.entry.source_id),
                url=normalise_url(item.entry.link),
                canonical_url=a.canonical_url,
                title=a.title or item.entry.title or None,
                text=a.text,
                summary=item.entry.summary,
                author=a.author or (", ".join(item.entry.authors) or None),
                published_at=a.published_at,
                date_method=a.date_method,
                first_seen_at=first_seen_at,
                language=a.language,
                status=a.status,
                status_reason=a.status_reason,
                content_hash=a.content_hash,
                story_id=item.story_id,
                relevance=item.match.relevance,
                on_topic=item.match.on_topic,
                guid=item.entry.guid,
                http_status=item.page.http_status,
                final_url=item.page.final_url,
                story_signature=item.signature,
                date_confidence=date_confidence(a.date_method),
                date_flag=date_flag(a.published_at, first_seen_at),
                relevance_rule=item.match.rule,
                body_hash=item.body_hash,
            )
        )
        mentions.extend(
            MentionRecord(
                article_id=item.article_id,
                entity_id=m.entity_id,
                count=m.count,
                first_offset=m.first_offset,
                snippet=m.snippet,
                alias=m.alias,
            )
            for m in item.match.mentions
        )
    return articles, mentions


def identity_records(
    judged: Sequence[Judged],
) -> tuple[list[ArticleAliasRecord], list[PageFailureRecord]]:
    """The aliases (new URLs of stored articles) and failed page fetches of a batch."""
    aliases = [j.alias for j in judged if j.alias is not None]
    failures = [j.failure for j in judged if j.failure is not None]
    return aliases, failures


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


def new_run_id(started_at: datetime) -> str:
    stamp = started_at.strftime("%Y%m%dT%H%M%S")
    salt = hashlib.sha1(f"{started_at.isoformat()}{threading.get_ident()}".encode()).hexdigest()
    return f"{stamp}-{salt[:8]}"


def with_outlets(sources: Sequence[Source]) -> dict[str, str]:
    return {s.id: s.name for s in sources}


__all__ = [
    "Judged",
    "PollOutcome",
    "extract",
    "feed_health_alerts",
    "fetch",
    "identity_records",
    "judge",
    "new_entries",
    "new_run_id",
    "poll",
    "raise_alerts",
    "read_feed_states",
    "run_async",
    "to_records",
    "with_outlets",
]
