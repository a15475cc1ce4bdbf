"""Ordered, named schema migrations, each in one transaction with its row in
``schema_migrations``, each followed by a CHECKPOINT (duckdb 1.5.x may fail to replay a WAL
holding DDL after a crash: duckdb/duckdb#18259).

Add a step by appending to ``MIGRATIONS``; never edit or reorder a released one. The trend
views and macros (``warehouse/trends.py``) are ``CREATE OR REPLACE`` definitions: steps 3 and 4
create the current ones on a new file, and a file made before a change of them gets the new
definitions from a later step that runs them again (8: dense series, names through aliases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.schema import (
    CONTENT_IDENTITY,
    CORE_TABLES,
    GNEWS_LINKS,
    OPERATIONS_TABLES,
    TRUST_PROVENANCE,
)
from newswatch.warehouse.trends import (
    ENTITY_DAILY,
    ENTITY_DAILY_SERIES,
    LOCAL_PUBLISHED_DAY,
    TREND_OBJECTS,
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core_tables", CORE_TABLES),
    Migration(2, "operations_tables", OPERATIONS_TABLES),
    Migration(3, "trend_views", TREND_OBJECTS),
    Migration(4, "entity_daily_rollup", ENTITY_DAILY),
    Migration(5, "trust_provenance", TRUST_PROVENANCE),
    Migration(
        6,
        "feed_retirement",  # extractors/feed_state.py: 410 Gone / 404 for N days retires a feed
        (
            "ALTER TABLE feed_state ADD COLUMN retired_at TIMESTAMPTZ",
            "ALTER TABLE feed_state ADD COLUMN gone_since TIMESTAMPTZ",
        ),
    ),
    Migration(7, "content_identity", CONTENT_IDENTITY),  # aliases + page_failures
    Migration(8, "dense_trend_series", (*TREND_OBJECTS, ENTITY_DAILY_SERIES)),
    Migration(9, "gnews_links", GNEWS_LINKS),  # extractors/gnews.py: decoded links, cached
    Migration(
        10,
        "published_offset",  # extractors/dates.py: the UTC offset the article's date declared
        ("ALTER TABLE articles ADD COLUMN published_offset_minutes INTEGER",),
    ),
    Migration(
        11,
        "story_bands",  # extractors/dedup.py: LSH band keys of the story signatures
        (
            """
            CREATE TABLE story_bands (
                band          INTEGER NOT NULL,
                key           UBIGINT NOT NULL,
                article_id    VARCHAR NOT NULL,
                first_seen_at TIMESTAMPTZ NOT NULL
            )
            """,
            """
            INSERT INTO story_bands
            SELECT unnest(range(32)) AS band,
                   unnest(list_transform(range(32),
                          b -> (story_signature[2 * b + 1] << 32) | story_signature[2 * b + 2])),
                   article_id, first_seen_at
            FROM articles
            WHERE len(story_signature) = 64
            ORDER BY first_seen_at
            """,
        ),
    ),
    # warehouse/trends.py: the publication day in the article's own offset, not UTC's
    Migration(12, "local_published_day", LOCAL_PUBLISHED_DAY),
)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)
"""


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions recorded in ``schema_migrations`` (empty for a new file). Never writes."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    return [int(row[0]) for row in rows]


def pending(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Migrations not yet applied, in order. Never writes."""
    done = set(applied_versions(con))
    return [m for m in MIGRATIONS if m.version not in done]


def refuse_newer(con: duckdb.DuckDBPyConnection) -> None:
    """Raise when the file was written by a newer newswatch (unknown migrations)."""
    known = {m.version for m in MIGRATIONS}
    unknown = sorted(set(applied_versions(con)) - known)
    if unknown:
        raise WarehouseError(
            f"database schema has migrations {unknown} unknown to this version: upgrade newswatch"
        )


def apply(
    con: duckdb.DuckDBPyConnection,
    *,
    up_to: int | None = None,
) -> list[Migration]:
    """Apply pending migrations (up to version ``up_to``); returns the ones applied."""
    refuse_newer(con)
    todo = [m for m in pending(con) if up_to is None or m.version <= up_to]
    if todo and not applied_versions(con):
        con.execute(_VERSION_TABLE)
        con.execute("CHECKPOINT")
    for migration in todo:
        _apply_one(con, migration)
    return todo


def _apply_one(con: duckdb.DuckDBPyConnection, migration: Migration) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in migration.statements:
            con.execute(statement)
        con.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            [migration.version, migration.name, datetime.now(UTC)],
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise WarehouseError(
            f"migration {migration.version} ({migration.name}) failed: {exc}"
        ) from exc
    con.execute("CHECKPOINT")
