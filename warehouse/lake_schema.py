"""The warehouse tables, trend views and macros on a DuckLake (issue 16).

The tables are those of ``core/tables.py`` plus the ``entity_daily`` rollup of
``warehouse/trends.py``, created with ``CREATE TABLE IF NOT EXISTS`` in the lake's DDL.
Measured with duckdb 1.5.5 / ducklake 1.5.5: DuckLake keeps the column types, ``NOT NULL``
(enforced: an insert of a NULL fails with a ConstraintException) and constant ``DEFAULT``s,
and refuses ``PRIMARY KEY``, ``UNIQUE`` and ``CHECK`` ("not supported in DuckLake") and has
no indexes. So keys become :func:`table_keys` (what a load anti-joins or MERGEs on,
``warehouse/lake_load.py``), and CHECKs become :data:`CHECKS` (verified by the load).
Views and table macros are stored in the lake's catalog (they survive a reopen and any
client that attaches the lake sees them).

What was created is recorded in :data:`VERSION_TABLE`: one row per lake schema version with
the tables and objects made, and the trend objects that failed (with the error). Ensuring an
already-current lake does one read and no commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from newswatch.core.tables import TABLES, Column, TableSpec
from newswatch.warehouse.lake import commit_with_retry
from newswatch.warehouse.trends import ENTITY_DAILY, TREND_OBJECTS

LAKE_SCHEMA_VERSION = 3  # 2: articles.published_offset_minutes (columns added to older lakes)
# 3: entity_match, entity_of and entity_daily_series re-created with fewer table scans
VERSION_TABLE = "lake_schema_version"

# warehouse/trends.py's rollup (migration 4), as a spec: kept current by every load.
ENTITY_DAILY_SPEC = TableSpec(
    "entity_daily",
    (
        Column("entity_id", "VARCHAR", nullable=False, primary_key=True, staged=False),
        Column("day", "DATE", nullable=False, primary_key=True, staged=False),
        Column("mentions", "BIGINT", nullable=False, staged=False),
        Column("articles", "BIGINT", nullable=False, staged=False),
        Column("stories", "BIGINT", nullable=False, staged=False),
    ),
)
LAKE_TABLES: tuple[TableSpec, ...] = (*TABLES, ENTITY_DAILY_SPEC)
LAKE_SPECS: dict[str, TableSpec] = {t.name: t for t in LAKE_TABLES}

# The trend views and macros: TREND_OBJECTS and entity_daily_series (ENTITY_DAILY's table and
# back-fill are the rollup table above, filled by the load).
TREND_SQL: tuple[str, ...] = (
    *TREND_OBJECTS,
    *(sql for sql in ENTITY_DAILY if "CREATE OR REPLACE" in sql),
)

_UNIQUE = re.compile(r"^\s*UNIQUE\s*\(([^)]*)\)\s*$", re.IGNORECASE)
_CHECK = re.compile(r"^\s*CHECK\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_OBJECT_NAME = re.compile(r"CREATE\s+OR\s+REPLACE\s+(?:VIEW|MACRO)\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class LakeSchemaReport:
    version: int
    created: bool  # False: the lake already had this version (nothing was run)
    tables: tuple[str, ...]
    objects: tuple[str, ...]  # trend views/macros created
    failed: tuple[tuple[str, str], ...]  # (object, error) of trend objects the lake refused


def lake_table_sql(spec: TableSpec) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the lake: the spec's columns, types, NOT NULL
    (key columns included) and defaults; no key, UNIQUE or CHECK clause."""
    lines = []
    for column in spec.columns:
        parts = [column.name, column.duck]
        if not column.nullable:
            parts.append("NOT NULL")
        if column.default is not None:
            parts.append(f"DEFAULT {column.default}")
        lines.append(" ".join(parts))
    body = ",\n    ".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {spec.name} (\n    {body}\n)"


def add_missing_columns(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> list[str]:
    """Add the spec's columns a table made by an older lake schema lacks (nullable, with
    the spec's default), as the file's ALTER TABLE migrations do; returns their names."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() "
        "WHERE database_name = current_database() AND table_name = $name",
        {"name": spec.name},
    ).fetchall()
    have = {str(row[0]) for row in rows}
    added = [column for column in spec.columns if column.name not in have]
    for column in added:
        default = f" DEFAULT {column.default}" if column.default is not None else ""
        con.execute(f"ALTER TABLE {spec.name} ADD COLUMN {column.name} {column.duck}{default}")
    return [column.name for column in added]


def table_keys(spec: TableSpec) -> tuple[tuple[str, ...], ...]:
    """Every key of the table: its primary key, then each UNIQUE constraint's columns."""
    keys = [spec.primary_key] if spec.primary_key else []
    for clause in spec.constraints:
        match = _UNIQUE.match(clause)
        if match:
            keys.append(tuple(part.strip() for part in match.group(1).split(",")))
    return tuple(keys)


def table_checks(spec: TableSpec) -> tuple[str, ...]:
    """The table's CHECK conditions (SQL over its columns), which the lake cannot enforce."""
    found = []
    for clause in spec.constraints:
        match = _CHECK.match(clause)
        if match:
            found.append(match.group(1).strip())
    return tuple(found)


CHECKS: dict[str, tuple[str, ...]] = {
    t.name: table_checks(t) for t in LAKE_TABLES if table_checks(t)
}


def object_name(sql: str) -> str:
    match = _OBJECT_NAME.search(sql)
    return match.group(1) if match else sql.strip().split("\n")[0][:40]


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest lake schema version recorded, or None on a lake without our schema."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = $name",
        {"name": VERSION_TABLE},
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _statement(sql: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(sql)

    return work


def ensure_lake_schema(con: duckdb.DuckDBPyConnection) -> LakeSchemaReport:
    """Create every table, view and macro on the attached lake in use (``open_lake``),
    idempotently; concurrent callers are serialised by ``commit_with_retry``'s guard."""
    if current_version(con) == LAKE_SCHEMA_VERSION:
        return LakeSchemaReport(LAKE_SCHEMA_VERSION, False, (), (), ())

    def create_tables(c: duckdb.DuckDBPyConnection) -> None:
        for spec in LAKE_TABLES:
            c.execute(lake_table_sql(spec))
            add_missing_columns(c, spec)
        c.execute(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL, tables VARCHAR[], objects VARCHAR[], "
            "failed VARCHAR[])"
        )

    commit_with_retry(con, create_tables)
    objects: list[str] = []
    failed: list[tuple[str, str]] = []
    for sql in TREND_SQL:  # each in its own commit: a refused one does not undo the others
        try:
            commit_with_retry(con, _statement(sql))
            objects.append(object_name(sql))
        except duckdb.Error as exc:
            failed.append((object_name(sql), str(exc).splitlines()[0]))

    def record(c: duckdb.DuckDBPyConnection) -> bool:
        if current_version(c) == LAKE_SCHEMA_VERSION:  # another process recorded it first
            return False
        c.execute(
            f"INSERT INTO {VERSION_TABLE} VALUES ($version, $now, $tables, $objects, $failed)",
            {
                "version": LAKE_SCHEMA_VERSION,
                "now": datetime.now(UTC),
                "tables": [t.name for t in LAKE_TABLES],
                "objects": objects,
                "failed": [f"{name}: {error}" for name, error in failed],
            },
        )
        return True

    created = commit_with_retry(con, record)
    return LakeSchemaReport(
        LAKE_SCHEMA_VERSION,
        created,
        tuple(t.name for t in LAKE_TABLES),
        tuple(objects),
        tuple(failed),
    )
