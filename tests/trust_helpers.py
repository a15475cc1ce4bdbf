"""A small warehouse of real matched articles, loaded the way a run loads them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from newswatch.core.records import (
    ArticleRecord,
    IngestBatch,
    MentionRecord,
    RunRecord,
    Source,
)
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.matcher import Matcher
from newswatch.warehouse.load import load_staged, stage_batch

SEEN_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SOURCE = Source("wire", "Wire Service", "https://wire.example/feed.xml", "en")


def matched_batch(
    texts: Sequence[tuple[str, str]], catalogue: Catalogue, run_id: str = "run-1"
) -> IngestBatch:
    """One run's batch of (title, text) articles matched with ``catalogue``."""
    matcher = Matcher(catalogue)
    articles, mentions = [], []
    for index, (title, text) in enumerate(texts):
        url = f"https://wire.example/news/{index}"
        article_id = hashlib.sha1(url.encode()).hexdigest()
        result = matcher.match(text, title=title)
        articles.append(
            ArticleRecord(
                article_id=article_id,
                source_id=SOURCE.id,
                outlet=SOURCE.name,
                url=url,
                canonical_url=url,
                title=title,
                text=text,
                summary="",
                author=None,
                published_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
                date_method="page_meta",
                first_seen_at=SEEN_AT,
                language="en",
                status="ok",
                status_reason=None,
                content_hash=None,
                story_id=article_id,
                relevance=result.relevance,
                on_topic=result.on_topic,
                http_status=200,
                final_url=url,
                date_confidence="high",
                relevance_rule=result.rule,
            )
        )
        mentions.extend(
            MentionRecord(article_id, m.entity_id, m.count, m.first_offset, m.snippet, m.alias)
            for m in result.mentions
        )
    run = RunRecord(
        run_id=run_id, started_at=SEEN_AT, finished_at=SEEN_AT, catalogue_version=catalogue.version
    )
    return IngestBatch(
        run=run,
        articles=tuple(articles),
        mentions=tuple(mentions),
        sources=(SOURCE,),
        entities=tuple(catalogue.entities),  # type: ignore[arg-type]
    )


def load_batch(batch: IngestBatch, db_path: Path) -> None:
    staging = db_path.parent / "staging"
    stage_batch(batch, staging)
    report = load_staged(db_path, staging)
    assert report.batches_loaded == 1, report.message
