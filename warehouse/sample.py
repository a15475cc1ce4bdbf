"""A small deterministic sample warehouse: tests, docs examples and CLI demos run on it.

``build_sample_db(db_path)`` stages and loads a few runs of synthetic articles about the
topic (several outlets and languages, a burst of one entity on the last day) and the
entity rows they mention. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from newswatch.core.records import (
    ArticleRecord,
    FeedPoll,
    FeedState,
    IngestBatch,
    MentionRecord,
    RunRecord,
    Source,
)
from newswatch.extractors.dedup import NUM_PERM
from newswatch.warehouse.db import connect
from newswatch.warehouse.load import LoadReport, load_entities, load_staged, stage_batch

SAMPLE_END = date(2025, 3, 31)
SAMPLE_ENTITIES: tuple[dict[str, str], ...] = (
    {"id": "shahed-136", "name": "Shahed-136", "type": "weapon", "side": "iran"},
    {"id": "geran-2", "name": "Geran-2", "type": "weapon", "side": "russia"},
    {"id": "alabuga", "name": "Alabuga", "type": "facility", "side": "russia"},
    {"id": "irgc", "name": "IRGC", "type": "organisation", "side": "iran"},
    {"id": "hezbollah", "name": "Hezbollah", "type": "organisation", "side": "proxy"},
    {"id": "houthis", "name": "Houthis", "type": "organisation", "side": "proxy"},
    {
        "id": "strategic-partnership-treaty",
        "name": "Comprehensive Strategic Partnership",
        "type": "treaty",
        "side": "both",
    },
)
SAMPLE_SOURCES: tuple[Source, ...] = (
    Source("reuters", "Reuters", "https://example.org/reuters.xml", "en"),
    Source("meduza", "Meduza", "https://example.org/meduza.xml", "ru"),
    Source("iranintl", "Iran International", "https://example.org/iranintl.xml", "fa"),
    Source("kyivindependent", "Kyiv Independent", "https://example.org/kyiv.xml", "en"),
)
_PHRASES = {
    "shahed-136": "Shahed-136 drones",
    "geran-2": "Geran-2 drones",
    "alabuga": "the Alabuga factory",
    "irgc": "the IRGC",
    "hezbollah": "Hezbollah",
    "houthis": "the Houthis",
    "strategic-partnership-treaty": "the comprehensive strategic partnership treaty",
}


def sample_batches(days: int = 42, per_day: int = 4, seed: int = 7) -> list[IngestBatch]:
    """One batch per week of ``days`` ending at SAMPLE_END; the last day has a Geran-2 burst."""
    rng = random.Random(seed)
    start = SAMPLE_END - timedelta(days=days - 1)
    batches: list[IngestBatch] = []
    week: list[tuple[ArticleRecord, list[MentionRecord]]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        count = per_day * 3 if day == SAMPLE_END else per_day
        for n in range(count):
            week.append(_article(rng, day, n, burst=day == SAMPLE_END))
        if day.weekday() == 6 or day == SAMPLE_END:
            batches.append(_batch(f"sample-{day.isoformat()}", day, week))
            week = []
    return batches


def build_sample_db(db_path: Path, staging_dir: Path | None = None) -> LoadReport:
    """Create (or top up) a sample database at ``db_path``; idempotent."""
    db_path = Path(db_path)
    staging_dir = Path(staging_dir or db_path.parent / "staging")
    with connect(db_path) as con:
        load_entities(con, list(SAMPLE_ENTITIES), version="sample-1")
    for batch in sample_batches():
        stage_batch(batch, staging_dir)
    return load_staged(db_path, staging_dir)


def _article(
    rng: random.Random, day: date, n: int, *, burst: bool
) -> tuple[ArticleRecord, list[MentionRecord]]:
    source = SAMPLE_SOURCES[(day.toordinal() + n) % len(SAMPLE_SOURCES)]
    entity_ids = rng.sample(sorted(_PHRASES), k=rng.randint(1, 3))
    if burst and "geran-2" not in entity_ids:
        entity_ids.append("geran-2")
    phrases = [_PHRASES[e] for e in entity_ids]
    title = f"Report on {phrases[0]} ({day.isoformat()} #{n})"
    text = (
        f"Officials discussed {', '.join(phrases)}. "
        "Russia and Iran expanded military cooperation, according to analysts. "
        + ("Новые дроны Герань собраны в Алабуге. " if source.language == "ru" else "")
    )
    url = f"https://{source.id}.example.org/{day.isoformat()}/{n}"
    article_id = hashlib.sha1(url.encode()).hexdigest()
    seen = datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC) + timedelta(minutes=n)
    story = f"story-{day.isoformat()}-{n // 2}"
    article = ArticleRecord(
        article_id=article_id,
        source_id=source.id,
        outlet=source.name,
        url=url,
        canonical_url=url,
        title=title,
        text=text,
        summary=text[:80],
        author=None,
        published_at=seen - timedelta(hours=2),
        date_method="feed",
        first_seen_at=seen,
        language=source.language,
        status="ok",
        status_reason=None,
        content_hash=hashlib.sha1(text.encode()).hexdigest(),
        story_id=story,
        relevance=round(0.5 + 0.1 * len(entity_ids), 2),
        on_topic=True,
        date_confidence="high",
        relevance_rule="sample",
        guid=url,
        http_status=200,
        final_url=url,
        # a full-length signature (32 LSH bands, so story_bands rows are loaded); the
        # first 4 values from the shared generator as before, the rest from the article's
        # own one, so every other sample value stays as it was
        story_signature=(
            *(rng.getrandbits(32) for _ in range(4)),
            *(random.Random(article_id).getrandbits(32) for _ in range(NUM_PERM - 4)),
        ),
    )
    mentions = [
        MentionRecord(article_id, e, 1, text.index(_PHRASES[e]), _PHRASES[e], _PHRASES[e])
        for e in entity_ids
    ]
    return article, mentions


def _batch(
    run_id: str, day: date, items: list[tuple[ArticleRecord, list[MentionRecord]]]
) -> IngestBatch:
    when = datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)
    articles = tuple(a for a, _ in items)
    mentions = tuple(m for _, ms in items for m in ms)
    polls = tuple(
        FeedPoll(s.id, s.url, "ok", when, http_status=200, etag=f'"{run_id}-{s.id}"')
        for s in SAMPLE_SOURCES
    )
    states = tuple(
        FeedState(
            s.id,
            etag=f'"{run_id}-{s.id}"',
            last_status="ok",
            last_http_status=200,
            last_polled_at=when,
            last_success_at=when,
            next_poll_at=when + timedelta(days=1),
            items_seen=sum(1 for a in articles if a.source_id == s.id),
        )
        for s in SAMPLE_SOURCES
    )
    run = RunRecord(
        run_id=run_id,
        started_at=when,
        finished_at=when + timedelta(minutes=3),
        feeds_polled=len(SAMPLE_SOURCES),
        new_articles=len(articles),
        on_topic_articles=len(articles),
        mentions=len(mentions),
        catalogue_version="sample-1",
        timings=(("fetch", 60.0), ("extract", 90.0), ("load", 1.5)),
    )
    return IngestBatch(
        run=run,
        articles=articles,
        mentions=mentions,
        feed_polls=polls,
        feed_states=states,
        sources=SAMPLE_SOURCES,
    )
