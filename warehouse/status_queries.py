"""What ``newswatch status`` shows: last runs, feeds with their cadence, pending alerts,
staged batches not loaded yet. One read-only connection per call, closed at once.

A feed's "poll every" is the interval its cadence chose after the last healthy poll
(``next_poll_at - last_polled_at``); its "publishes every" is the median gap between the
publication dates of its newest 20 stored articles; "polls 24 h" counts ``feed_polls`` rows.
A retired feed (410 Gone, or 404 for days) has ``retired_at``; ``pauses`` are the notes of
its last poll saying it waited for a host's 429 pause (or caused one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import connect
from newswatch.warehouse.staging import read_staged, staged_batches

CADENCE_WINDOW = 20  # newest articles per feed whose spacing is measured


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    feeds_polled: int
    feeds_failed: int
    feeds_unchanged: int
    new_articles: int
    on_topic_articles: int
    loaded_at: datetime | None
    errors: tuple[str, ...]


@dataclass(frozen=True)
class FeedRow:
    source_id: str
    name: str | None
    enabled: bool | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    poll_every_s: float | None  # the cadence chosen after the last healthy poll
    publishes_every_s: float | None  # median gap between its newest articles
    polls_24h: int
    articles: int
    retired_at: datetime | None = None
    gone_since: datetime | None = None
    pauses: tuple[str, ...] = ()  # host-pause notes of the last poll


@dataclass(frozen=True)
class PendingAlert:
    alert_id: str
    rule: str
    kind: str
    channel: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class StagedRow:
    name: str
    run_id: str | None
    staged_at: datetime | None
    rows: int
    problem: str | None = None  # unreadable or inconsistent batch


@dataclass(frozen=True)
class Status:
    runs: tuple[RunRow, ...] = ()
    feeds: tuple[FeedRow, ...] = ()
    pending_alerts: tuple[PendingAlert, ...] = ()


def read_status(
    db_path: Path, now: datetime, *, runs: int = 10, lock_timeout: float = 5.0
) -> Status:
    """Runs, feeds and pending alerts; an empty Status when the database does not exist."""
    if not Path(db_path).exists():
        return Status()
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        return Status(
            runs=last_runs(con, runs) if _has(con, "runs") else (),
            feeds=feeds(con, now) if _has(con, "feed_state") else (),
            pending_alerts=pending_alerts(con) if _has(con, "alerts") else (),
        )


def last_runs(con: duckdb.DuckDBPyConnection, limit: int) -> tuple[RunRow, ...]:
    rows = con.execute(
        """
        SELECT run_id, started_at, finished_at, feeds_polled, feeds_failed, feeds_unchanged,
               new_articles, on_topic_articles, loaded_at, coalesce(errors, [])
        FROM runs ORDER BY started_at DESC LIMIT $limit
        """,
        {"limit": limit},
    ).fetchall()
    # the last column, errors, is a DuckDB list: the record holds a tuple
    return tuple(RunRow(*(*row[:-1], tuple(row[-1]))) for row in rows)


def feeds(con: duckdb.DuckDBPyConnection, now: datetime) -> tuple[FeedRow, ...]:
    """Every feed with state, failing ones first, then by next poll."""
    has_articles = _has(con, "articles")
    has_polls = _has(con, "feed_polls")
    has_sources = _has(con, "sources")
    cadence = (
        f"""
        SELECT source_id, median(gap) AS publishes_every_s, max(n) AS articles FROM (
            SELECT source_id,
                   epoch(published_at) - epoch(lead(published_at) OVER w) AS gap,
                   count(*) OVER (PARTITION BY source_id) AS n,
                   row_number() OVER w AS rn
            FROM articles WHERE published_at IS NOT NULL
            WINDOW w AS (PARTITION BY source_id ORDER BY published_at DESC)
        ) WHERE rn <= {CADENCE_WINDOW} GROUP BY source_id
        """
        if has_articles
        else "SELECT NULL::VARCHAR AS source_id, NULL::DOUBLE AS publishes_every_s, "
        "0 AS articles WHERE false"
    )
    polls = (
        "SELECT source_id, count(*) AS polls_24h FROM feed_polls "
        "WHERE fetched_at >= $since GROUP BY source_id"
        if has_polls
        else "SELECT NULL::VARCHAR AS source_id, 0 AS polls_24h WHERE false"
    )
    pauses = (
        "SELECT source_id, list_filter(coalesce(notes, []), lambda n: n LIKE 'waited %'"
        " OR n LIKE '% paused for %') AS pauses FROM feed_polls"
        " QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY fetched_at DESC) = 1"
        if has_polls
        else "SELECT NULL::VARCHAR AS source_id, []::VARCHAR[] AS pauses WHERE false"
    )
    # an older file opened read-only (never migrated) has no retirement columns yet
    retired = (
        "f.retired_at, f.gone_since"
        if _has_column(con, "feed_state", "retired_at")
        else "NULL::TIMESTAMPTZ, NULL::TIMESTAMPTZ"
    )
    sources = (
        "SELECT source_id, name, enabled FROM sources"
        if has_sources
        else "SELECT NULL::VARCHAR AS source_id, NULL::VARCHAR AS name, "
        "NULL::BOOLEAN AS enabled WHERE false"
    )
    rows = con.execute(
        f"""
        WITH cadence AS ({cadence}), polls AS ({polls}), src AS ({sources}),
             pauses AS ({pauses})
        SELECT f.source_id, src.name, src.enabled, f.last_status, f.last_http_status,
               f.last_error, f.consecutive_failures, f.last_polled_at, f.last_success_at,
               f.next_poll_at,
               CASE WHEN f.consecutive_failures = 0
                         AND f.last_status IN ('ok', 'not_modified')
                         AND f.next_poll_at > f.last_polled_at
                    THEN epoch(f.next_poll_at) - epoch(f.last_polled_at) END,
               cadence.publishes_every_s,
               coalesce(polls.polls_24h, 0), coalesce(cadence.articles, 0),
               {retired}, coalesce(pauses.pauses, [])
        FROM feed_state AS f
        LEFT JOIN src USING (source_id)
        LEFT JOIN cadence USING (source_id)
        LEFT JOIN polls USING (source_id)
        LEFT JOIN pauses USING (source_id)
        ORDER BY f.consecutive_failures > 0 DESC, f.next_poll_at NULLS FIRST, f.source_id
        """,
        {"since": now - timedelta(hours=24)} if has_polls else {},
    ).fetchall()
    # the last column, pauses, is a DuckDB list: the record holds a tuple
    return tuple(FeedRow(*(*row[:-1], tuple(row[-1]))) for row in rows)


def pending_alerts(con: duckdb.DuckDBPyConnection, limit: int = 50) -> tuple[PendingAlert, ...]:
    rows = con.execute(
        """
        SELECT alert_id, rule, kind, channel, created_at, attempts, next_attempt_at, last_error
        FROM alerts WHERE status = 'pending' ORDER BY created_at, alert_id LIMIT $limit
        """,
        {"limit": limit},
    ).fetchall()
    return tuple(PendingAlert(*row) for row in rows)


def staged_not_loaded(staging_dir: Path) -> tuple[StagedRow, ...]:
    """Batches waiting under ``staging_dir`` (loaded/ and rejected/ are not listed)."""
    found = []
    for path in staged_batches(staging_dir):
        try:
            batch = read_staged(path)
        except WarehouseError as exc:
            found.append(StagedRow(path.name, None, None, 0, problem=str(exc)))
            continue
        found.append(StagedRow(path.name, batch.run_id, batch.staged_at, sum(batch.rows.values())))
    return tuple(found)


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
        "AND table_name = $table AND column_name = $column",
        {"table": table, "column": column},
    ).fetchone()
    return bool(row and row[0])


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = $name",
        {"name": table},
    ).fetchone()
    return bool(row and row[0])
