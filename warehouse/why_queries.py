"""Everything stored about one article, for ``newswatch why``: how it was fetched,
extracted, matched and judged, its story and the alerts it raised. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from newswatch.extractors.urls import normalise_url
from newswatch.warehouse.db import connect, has_table

MIN_ID_PREFIX = 8


@dataclass(frozen=True)
class Explanation:
    article: dict[str, Any]  # the articles row (without text) plus text_chars
    source: dict[str, Any] | None  # the sources row of its feed
    poll: dict[str, Any] | None  # the feed poll of the run that found it
    run: dict[str, Any] | None  # the run that found it (catalogue version, packages)
    mentions: tuple[dict[str, Any], ...]  # entity, name, alias, count, snippet
    story: tuple[dict[str, Any], ...]  # the other articles of its story
    alerts: tuple[dict[str, Any], ...]  # alerts about the article or its story


_ARTICLE_COLUMNS = """
article_id, source_id, outlet, url, canonical_url, final_url, guid, http_status, title,
author, language, status, status_reason, content_hash, published_at, date_method,
date_confidence, date_flag, first_seen_at, published_day, story_id, relevance, on_topic,
relevance_rule, run_id, published_offset_minutes, length(text) AS text_chars
"""


def find_article_id(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """The article whose id, id prefix (8+ characters), URL, canonical or final URL is ``key``."""
    key = key.strip()
    urls = list({key, normalise_url(key) or key})
    row = con.execute(
        """
        SELECT article_id FROM articles
        WHERE article_id = $key
           OR (length($key) >= $min_prefix AND starts_with(article_id, lower($key)))
           OR url IN (SELECT unnest($urls)) OR canonical_url IN (SELECT unnest($urls))
           OR final_url IN (SELECT unnest($urls))
        ORDER BY article_id = $key DESC, first_seen_at
        LIMIT 1
        """,
        {"key": key, "urls": urls, "min_prefix": MIN_ID_PREFIX},
    ).fetchone()
    return str(row[0]) if row else None


def explain(db_path: Path, key: str) -> Explanation | None:
    """Everything stored about the article ``key`` names (None when there is none)."""
    with connect(db_path, read_only=True) as con:
        if not has_table(con, "articles"):
            return None
        found = find_article_id(con, key)
        if found is None:
            return None
        return explain_article(con, found)


def explain_article(con: duckdb.DuckDBPyConnection, article_id: str) -> Explanation:
    params = {"id": article_id}
    article = _one(con, f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE article_id = $id", params)
    assert article is not None
    source = _one(
        con, "SELECT * FROM sources WHERE source_id = $source", {"source": article["source_id"]}
    )
    poll = _one(
        con,
        """
        SELECT run_id, url, status, http_status, fetched_at, final_url, error, entry_count
        FROM feed_polls WHERE source_id = $source AND run_id = $run
        ORDER BY fetched_at DESC LIMIT 1
        """,
        {"source": article["source_id"], "run": article["run_id"]},
    )
    run = _one(
        con,
        """
        SELECT run_id, started_at, flow_run_id, catalogue_version, settings_json,
               package_versions
        FROM runs WHERE run_id = $run
        """,
        {"run": article["run_id"]},
    )
    mentions = _all(
        con,
        """
        SELECT m.entity_id, e.name, e.type, e.side, m.alias, m.count, m.first_offset, m.snippet
        FROM mentions AS m LEFT JOIN entities AS e USING (entity_id)
        WHERE m.article_id = $id
        ORDER BY m.count DESC, m.entity_id
        """,
        params,
    )
    story = _all(
        con,
        """
        SELECT article_id, outlet, title, url, first_seen_at, published_at, on_topic
        FROM articles
        WHERE story_id = $story AND article_id <> $id
        ORDER BY first_seen_at, article_id
        """,
        {"story": article["story_id"], "id": article_id},
    )
    alerts = _all(
        con,
        """
        SELECT rule, kind, channel, delivery, status, attempts, created_at, sent_at,
               last_error, article_id = $id AS about_this_article
        FROM alerts
        WHERE article_id = $id OR story_id = $story
        ORDER BY created_at, rule, channel
        """,
        {"id": article_id, "story": article["story_id"]},
    )
    return Explanation(article, source, poll, run, mentions, story, alerts)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    rows = _all(con, sql, params)
    return rows[0] if rows else None


def _all(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> tuple[dict[str, Any], ...]:
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description or ()]
    return tuple(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
