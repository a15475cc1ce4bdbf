"""Batch assembly, shared by the ``ingest`` and ``backfill`` flows: judged pages -> the
``IngestBatch`` one load takes (rows, run record with its provenance, failed feeds).

Pure: records in, records out; no Prefect, no warehouse. The flows call these between
their tasks; ``Judged`` is what the match-and-group stage hands over.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from newswatch.core.records import (
    AlertRecord,
    ArticleAliasRecord,
    ArticleRecord,
    ExtractedArticle,
    FeedEntry,
    FeedPoll,
    FeedState,
    IngestBatch,
    MatchResult,
    MentionRecord,
    PageFailureRecord,
    PageFetch,
    RunRecord,
    Source,
)
from newswatch.core.settings import Settings
from newswatch.extractors import gdelt, gnews
from newswatch.extractors.date_trust import date_confidence, date_flag, stored_offset
from newswatch.extractors.emerging import emerging_term_records
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.provenance import package_versions, settings_json
from newswatch.extractors.urls import normalise_url

NO_MATCH = MatchResult(mentions=(), relevance=0.0, on_topic=False)
T = TypeVar("T")


@dataclass(frozen=True)
class Judged:
    """One fetched page, judged: a new article (with its matches and story), another URL of
    a stored article (``alias``), or an error page to fetch again (``failure``)."""

    entry: FeedEntry
    page: PageFetch
    article: ExtractedArticle
    signature: tuple[int, ...]
    match: MatchResult = NO_MATCH  # only a new article is matched
    article_id: str = ""  # for an alias: the stored article it is a copy of
    story_id: str = ""
    outcome: str = "new"  # new | alias | failed
    body_hash: str | None = None
    alias: ArticleAliasRecord | None = None
    failure: PageFailureRecord | None = None


@dataclass(frozen=True)
class Assembled:
    """The rows the judged pages of one batch become."""

    articles: tuple[ArticleRecord, ...]
    mentions: tuple[MentionRecord, ...]
    aliases: tuple[ArticleAliasRecord, ...]  # new URLs of stored articles
    page_failures: tuple[PageFailureRecord, ...]  # error pages, fetched again later

    @property
    def on_topic(self) -> int:
        return sum(a.on_topic for a in self.articles)

    @property
    def stories(self) -> int:
        return len({a.story_id for a in self.articles})


def assemble(
    judged: Sequence[Judged], sources: Sequence[Source], first_seen_at: datetime
) -> Assembled:
    """Article and mention rows of the new articles (aliases and error pages have none),
    the aliases and the failed page fetches."""
    publishers = {s.id for s in sources if s.kind in (gnews.KIND, gdelt.KIND)}
    articles, mentions = to_records(judged, outlets(sources), first_seen_at, publishers)
    return Assembled(
        articles=tuple(articles),
        mentions=tuple(mentions),
        aliases=tuple(j.alias for j in judged if j.alias is not None),
        page_failures=tuple(j.failure for j in judged if j.failure is not None),
    )


def to_records(
    judged: Sequence[Judged],
    outlets: dict[str, str],
    first_seen_at: datetime,
    publishers: Collection[str] = (),
) -> tuple[list[ArticleRecord], list[MentionRecord]]:
    """Article and mention rows of the new articles (aliases and error pages have none).
    The outlet is the source's name, except for the sources in ``publishers`` (Google
    News searches, GDELT article lists): there it is each item's publisher
    (``gnews.outlet_of``: the host of the entry's ``source_url``)."""
    articles: list[ArticleRecord] = []
    mentions: list[MentionRecord] = []
    for item in (j for j in judged if j.outcome == "new"):
        a = item.article
        source_id = item.entry.source_id
        publisher = gnews.outlet_of(item.entry) if source_id in publishers else None
        articles.append(
            ArticleRecord(
                article_id=item.article_id,
                source_id=source_id,
                outlet=publisher or outlets.get(source_id, source_id),
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
                published_offset_minutes=stored_offset(a, item.entry),
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


def outlets(sources: Sequence[Source]) -> dict[str, str]:
    """Source id -> outlet name (the ``outlet`` column of an article)."""
    return {s.id: s.name for s in sources}


def failed_feeds(polls: Sequence[FeedPoll]) -> tuple[tuple[str, str], ...]:
    """(source id, error) of every poll that failed, in poll order."""
    return tuple((p.source_id, p.error or "error") for p in polls if p.status == "error")


def new_run_id(started_at: datetime) -> str:
    """``YYYYMMDDTHHMMSS-<8 hex>``: sortable by start, distinct for runs started together."""
    stamp = started_at.strftime("%Y%m%dT%H%M%S")
    salt = hashlib.sha1(f"{started_at.isoformat()}{threading.get_ident()}".encode()).hexdigest()
    return f"{stamp}-{salt[:8]}"


def run_record(
    assembled: Assembled,
    started_at: datetime,
    catalogue: Catalogue,
    settings: Settings,
    flow_run_id: str | None,
    polls: Sequence[FeedPoll] = (),
) -> RunRecord:
    """The ``runs`` row of a batch, finished now: counts, failed feeds, and what it takes to
    reproduce it (catalogue version, result-shaping settings, library versions)."""
    failed = failed_feeds(polls)
    return RunRecord(
        run_id=new_run_id(started_at),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        flow_run_id=flow_run_id,
        feeds_polled=len(polls),
        feeds_failed=len(failed),
        feeds_unchanged=sum(p.status == "not_modified" for p in polls),
        new_articles=len(assembled.articles),
        on_topic_articles=assembled.on_topic,
        mentions=len(assembled.mentions),
        errors=tuple(f"{source}: {error}" for source, error in failed),
        catalogue_version=catalogue.version,
        settings_json=settings_json(settings),
        package_versions=package_versions(),
    )


def history_batch(
    assembled: Assembled, run: RunRecord, catalogue: Catalogue, sources: Sequence[Source]
) -> IngestBatch:
    """A backfill batch: rows only, no feed polls, no alerts, no emerging terms (history is
    not news)."""
    return IngestBatch(
        run=run,
        articles=assembled.articles,
        mentions=assembled.mentions,
        sources=tuple(sources),
        entities=catalogue.entities,  # type: ignore[arg-type]  # Entity has EntityRecord's fields
        aliases=assembled.aliases,
        page_failures=assembled.page_failures,
    )


def ingest_batch(
    assembled: Assembled,
    run: RunRecord,
    catalogue: Catalogue,
    sources: Sequence[Source],
    polls: Sequence[FeedPoll],
    states: Sequence[FeedState],
    alerts: Sequence[AlertRecord],
) -> IngestBatch:
    """An ingest run's batch: the rows, the polls and each feed's next state, the alerts
    raised and the run's emerging terms."""
    return replace(
        history_batch(assembled, run, catalogue, sources),
        feed_polls=tuple(polls),
        feed_states=tuple(states),
        alerts=tuple(alerts),
        emerging_terms=tuple(
            emerging_term_records(assembled.articles, catalogue, run.run_id, run.started_at)
        ),
    )


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of ``size`` (at least 1), the last one shorter."""
    step = max(1, size)
    for start in range(0, len(items), step):
        yield list(items[start : start + step])


# What a dropped body becomes: the rest of a run reads a page's body only to tell a blank
# one from a non-blank one (``page_retry.page_error``), so a non-blank body is kept as this.
DROPPED_BODY = b"(body dropped after extraction)"


def without_bodies(pages: Sequence[PageFetch]) -> list[PageFetch]:
    """``pages`` once extracted, their bodies dropped (a blank body is kept as it is), so
    a streamed run holds one chunk's bytes at a time, not the whole batch's."""
    return [
        replace(page, body=DROPPED_BODY) if page.body and page.body.strip() else page
        for page in pages
    ]
