"""A DuckDB-file warehouse copied into a new lake, checked table by table (issue 16, item 7).

Every table of the lake schema (``lake_schema.LAKE_TABLES``) is copied from the old file,
attached read-only (the file is never written, and kept), into a new lake in **one**
commit: a migration killed midway leaves the lake as empty as it was, so it can simply be
run again. The old file's own bookkeeping (``schema_migrations``: the lake records its
schema in ``lake_schema_version``) is not copied and is listed as such.

Then each table is compared: row counts, and a content hash that ignores row order, the
sum of ``hash(row(...))`` over the columns both sides have, each read as the lake's type.
A column only the lake has (a file at an older schema) is left to its default and named in
the report. A target lake that already holds rows is refused, as is a target that is not a
``.lake.sqlite`` catalog. Last, the lake's BM25 index file is built
(``lake_search.publish_lake_index``), so ``newswatch search`` works at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import connect_lake, is_lake_catalog, refuse_foreign_file
from newswatch.warehouse.extensions import sql_string
from newswatch.warehouse.lake import LAKE, commit_with_retry, search_index_path
from newswatch.warehouse.lake_schema import LAKE_TABLES
from newswatch.warehouse.lake_search import LakeIndexReport, publish_lake_index

OLD = "old_warehouse"  # the name the old file is attached under


@dataclass(frozen=True)
class TableCheck:
    """One table, old file against lake: rows, order-free content hash, columns compared."""

    table: str
    old_rows: int
    lake_rows: int
    old_hash: int
    lake_hash: int
    columns: int  # compared (both sides have them)
    lake_only: tuple[str, ...] = ()  # columns the old file lacks (left to their default)

    @property
    def same(self) -> bool:
        return self.old_rows == self.lake_rows and self.old_hash == self.lake_hash


@dataclass(frozen=True)
class MigrationReport:
    source: Path
    target: Path
    tables: tuple[TableCheck, ...]
    not_copied: tuple[str, ...]  # tables of the old file outside the lake schema
    missing: tuple[str, ...]  # lake tables the old file lacks (an older schema): left empty
    index: LakeIndexReport
    seconds: float

    @property
    def same(self) -> bool:
        return all(t.same for t in self.tables)

    def lines(self) -> list[str]:
        width = max(len(t.table) for t in self.tables)
        lines = [f"{'table':<{width}}  {'old rows':>9}  {'lake rows':>9}  hash (old = lake)"]
        for t in self.tables:
            verdict = "same" if t.same else "DIFFERENT"
            extra = f"  (not in the old file: {', '.join(t.lake_only)})" if t.lake_only else ""
            lines.append(
                f"{t.table:<{width}}  {t.old_rows:>9}  {t.lake_rows:>9}  "
                f"{t.old_hash:032x} {verdict}{extra}"
            )
        if self.missing:
            lines.append(f"not in the old file (left empty): {', '.join(self.missing)}")
        if self.not_copied:
            lines.append(
                f"not copied (the old file's own bookkeeping): {', '.join(self.not_copied)}"
            )
        lines.append(
            f"{sum(t.lake_rows for t in self.tables)} rows in {len(self.tables)} tables, one "
            f"commit, {self.seconds:.1f} s; search index: {self.index.articles} articles; "
            f"the old file is unchanged: {self.source}"
        )
        return lines


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = $db AND schema_name = 'main' AND table_name = $table "
        "ORDER BY column_index",
        {"db": database, "table": table},
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = $db "
        "AND schema_name = 'main' ORDER BY table_name",
        {"db": database},
    ).fetchall()
    return [str(r[0]) for r in rows]


def table_digest(
    con: duckdb.DuckDBPyConnection, source: str, columns: dict[str, str]
) -> tuple[int, int]:
    """(rows, order-free hash) of ``source``: the sum of each row's hash, as HUGEINT."""
    values = ", ".join(f"CAST({name} AS {kind})" for name, kind in columns.items())
    row = con.execute(
        f"SELECT count(*), coalesce(sum(CAST(hash(row({values})) AS HUGEINT)), 0) FROM {source}"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _lake_rows(con: duckdb.DuckDBPyConnection) -> int:
    total = 0
    for spec in LAKE_TABLES:
        row = con.execute(f"SELECT count(*) FROM {LAKE}.{spec.name}").fetchone()
        total += int(row[0]) if row else 0
    return total


def migrate_to_lake(source: Path, target: Path) -> MigrationReport:
    """Copy the warehouse file ``source`` into the new lake ``target`` and check it."""
    started = time.perf_counter()
    source, target = Path(source).absolute(), Path(target).absolute()
    if is_lake_catalog(source):
        raise WarehouseError(f"{source} is already a lake (give the old .duckdb file)")
    if not source.is_file():
        raise WarehouseError(f"no warehouse file at {source}")
    if not is_lake_catalog(target):
        raise WarehouseError(f"the target must be a lake catalog ending in .lake.sqlite: {target}")
    refuse_foreign_file(source)
    with connect_lake(target) as con:  # created (schema included) when missing
        stored = _lake_rows(con)
        if stored:
            raise WarehouseError(
                f"the lake {target} already holds {stored} rows: migrate into a new lake "
                "(nothing was changed)"
            )
        try:
            con.execute(f"ATTACH {sql_string(str(source))} AS {OLD} (READ_ONLY)")
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {source} read-only: {exc}") from exc
        old_tables = _tables(con, OLD)
        plan = []
        for spec in LAKE_TABLES:
            if spec.name not in old_tables:
                continue
            lake_columns = _columns(con, LAKE, spec.name)
            old_columns = _columns(con, OLD, spec.name)
            common = {n: k for n, k in lake_columns.items() if n in old_columns}
            lake_only = tuple(n for n in lake_columns if n not in old_columns)
            plan.append((spec.name, common, lake_only))

        def copy(c: duckdb.DuckDBPyConnection) -> None:
            for table, common, _lake_only in plan:
                listed = ", ".join(common)
                c.execute(
                    f"INSERT INTO {LAKE}.{table} ({listed}) SELECT {listed} FROM {OLD}.{table}"
                )

        commit_with_retry(con, copy)
        checks = []
        for table, common, lake_only in plan:
            old_rows, old_hash = table_digest(con, f"{OLD}.{table}", common)
            lake_rows, lake_hash = table_digest(con, f"{LAKE}.{table}", common)
            checks.append(
                TableCheck(table, old_rows, lake_rows, old_hash, lake_hash, len(common), lake_only)
            )
        copied = {p[0] for p in plan}
        not_copied = tuple(t for t in old_tables if t not in copied)
        missing = tuple(t.name for t in LAKE_TABLES if t.name not in copied)
        con.execute(f"DETACH {OLD}")
    index = publish_lake_index(target, search_index_path(target))
    return MigrationReport(
        source, target, tuple(checks), not_copied, missing, index, time.perf_counter() - started
    )
