"""A lake's BM25 index, in a DuckDB file beside its catalog (``x.lake.search.duckdb``).

DuckDB's FTS index cannot be built on a DuckLake table (it fails at commit, measured with
ducklake 1.5.5), so the index lives in a side file holding ``articles(article_id, title,
text)`` and the index over them, built with ``search.refresh_index`` exactly as on a
snapshot. Readers attach it beside the lake (``search.SEARCH_CATALOG``) and join hits to
the lake's articles by id, so every other column is always the lake's current one.

Work grows with new articles only where it can: the file records the lake snapshot that
last changed ``articles``, and a publish after a load that changed no article (an unchanged
run: every feed 304) reads one catalog row and does nothing else. When articles changed,
the index is rebuilt from the lake on a temporary file that replaces the old one
atomically: neither the load nor any reader waits for it (the extension has no
incremental update).
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from newswatch.warehouse import search
from newswatch.warehouse.db import connect_lake, open_duckdb
from newswatch.warehouse.lake import LAKE

SOURCE_TABLE = "index_source"  # one row: the lake snapshot the index was built from


@dataclass(frozen=True)
class LakeIndexReport:
    path: Path
    rebuilt: bool  # False: no article changed since the index was built
    articles: int
    seconds: float


def articles_version(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the newest lake snapshot that changed ``articles`` (0: never)."""
    row = con.execute(
        f"""
        WITH t AS (
            SELECT CAST(table_id AS VARCHAR) AS id FROM ducklake_table_info('{LAKE}')
            WHERE table_name = 'articles'
        )
        SELECT coalesce(max(s.snapshot_id), 0)
        FROM ducklake_snapshots('{LAKE}') AS s, t
        WHERE list_contains(flatten(map_values(s.changes)), t.id)
           OR list_contains(flatten(map_values(s.changes)), 'main.articles')
        """
    ).fetchone()
    return int(row[0]) if row else 0


def indexed_version(index_path: Path) -> int | None:
    """The lake snapshot the index file was built from (None: no usable file)."""
    if not index_path.exists():
        return None
    try:
        with open_duckdb(index_path, read_only=True) as con:
            row = con.execute(f"SELECT version FROM {SOURCE_TABLE}").fetchone()
    except duckdb.Error:
        return None
    return int(row[0]) if row else None


def publish_lake_index(catalog: Path, index_path: Path) -> LakeIndexReport:
    """Bring the index file up to date with the lake's articles (see the module notes)."""
    started = time.perf_counter()
    tmp = index_path.with_name(f".{index_path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with connect_lake(catalog, read_only=True) as lake:
            version = articles_version(lake)
            if indexed_version(index_path) == version:
                return LakeIndexReport(index_path, False, -1, time.perf_counter() - started)
            lake.execute(f"ATTACH '{_sql_path(tmp)}' AS fresh")
            lake.execute(
                "CREATE TABLE fresh.articles AS "
                f"SELECT article_id, title, text FROM {LAKE}.articles ORDER BY article_id"
            )
            lake.execute(f"CREATE TABLE fresh.{SOURCE_TABLE} AS SELECT {version} AS version")
            lake.execute("DETACH fresh")
        with open_duckdb(tmp) as fresh:
            search.refresh_index(fresh)
            row = fresh.execute("SELECT count(*) FROM articles").fetchone()
            fresh.execute("CHECKPOINT")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, index_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return LakeIndexReport(
        index_path, True, int(row[0]) if row else 0, time.perf_counter() - started
    )


def attach_index(con: duckdb.DuckDBPyConnection, index_path: Path) -> bool:
    """Attach the index file read-only as ``search.SEARCH_CATALOG`` (False: none yet)."""
    if not index_path.exists():
        return False
    con.execute(f"ATTACH '{_sql_path(index_path)}' AS {search.SEARCH_CATALOG} (READ_ONLY)")
    return True


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
