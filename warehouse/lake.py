"""The warehouse as a DuckLake (issue 16, groundwork): open it, commit to it safely.

A lake is a catalog database (table metadata and snapshots) plus a data path (Parquet
files). The embedded default is a SQLite catalog file with a local data folder: several
processes on one host read and write it at once, no server to start. A PostgreSQL catalog
(a libpq connection string) lets several machines write. Every DuckDB client opens the lake
with the same few statements (:func:`attach_statements`); :func:`open_lake` runs them on a
connection from ``db.open_duckdb`` (no extension is ever downloaded).

Measured with duckdb 1.5.5 and the extension wheels (``tests/test_lake.py``):

- The SQLite catalog is switched to WAL journal mode when the lake is opened for writing
  (the mode is kept in the file). In SQLite's default rollback mode a reader holds a shared
  lock on the catalog while it queries: with one reader polling, each of 20 commits waited
  ~5 s and failed with "database is locked"; in WAL mode none failed, even beside a
  reader's open transaction.
- Writers commit optimistically and a commit can fail when another writer committed
  meanwhile: on SQLite "database is locked" (a transaction whose catalog snapshot went
  stale), on PostgreSQL "Transaction conflict". Such a transaction must be re-run from the
  start: :func:`commit_with_retry` does that, a bounded number of times.
- DuckLake has no unique constraints, and it does *not* see two concurrent transactions
  that insert the same key as a conflict (on a PostgreSQL catalog both MERGEs commit and
  the key is stored twice). So every write through :func:`commit_with_retry` also updates
  the one row of :data:`WRITE_GUARD`: two overlapping writes then always conflict, the
  later one is re-run against the newer snapshot, and a MERGE or anti-join on keys stays
  exact. Readers never touch the guard and are never blocked.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import LAKE_SUFFIX, open_duckdb
from newswatch.warehouse.extensions import extension_path, load_statement, sql_string

CatalogKind = Literal["sqlite", "postgres"]
CATALOG_EXTENSIONS: dict[str, str] = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
LAKE = "lake"  # the name the lake is attached under
WRITE_GUARD = "newswatch_write_guard"
# Messages of a commit that lost a race with another writer (worth re-running).
CONFLICT_MARKERS = (
    "Transaction conflict",
    "database is locked",
    "could not serialize access",
    "deadlock detected",
)
_PASSWORD = re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE)
_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0

# Threads of a reading connection (issue 16): half the machine's cores, at least one; the
# other half is the loader's, which readers are meant to run beside. A lake query is many
# small catalog reads (a dozen SQLite statements per table it scans, each a parallel scan
# of its own): with 2 threads on a busy 2-core machine, the handoffs between them cost more
# than the second core gives. Measured at 1 M articles / 10 M mentions, load average ~3,
# one session, 2 -> 1 thread: entity_daily_series p50 50.5 -> 28.3 ms, search.search
# 68 -> 49 ms, phrase search 520 -> 413 ms, monthly entity_series 647 -> 624 ms.
READER_THREADS_ENV = "NEWSWATCH_LAKE_READER_THREADS"


def reader_threads() -> int:
    """The threads a read-only lake connection uses: ``NEWSWATCH_LAKE_READER_THREADS``
    when set (a positive integer), else half the cores, at least one."""
    value = os.environ.get(READER_THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise WarehouseError(f"{READER_THREADS_ENV} must be a positive integer, not {value!r}")
        return threads
    return max(1, (os.cpu_count() or 2) // 2)


T = TypeVar("T")


@dataclass(frozen=True)
class LakeConfig:
    """Where a lake lives. ``catalog`` is a SQLite file path (kind ``sqlite``) or a libpq
    connection string such as ``dbname=news host=db.internal`` (kind ``postgres``);
    ``data_path`` is a folder or an object-store prefix for the Parquet files."""

    kind: CatalogKind
    catalog: str
    data_path: str

    def __post_init__(self) -> None:
        if self.kind not in CATALOG_EXTENSIONS:
            raise WarehouseError(
                f"unknown lake catalog kind {self.kind!r} (use 'sqlite' or 'postgres')"
            )
        if not self.catalog or not self.data_path:
            raise WarehouseError("a lake needs a catalog and a data path")

    @classmethod
    def embedded(cls, home: Path) -> LakeConfig:
        """The default lake under a data directory: a SQLite catalog and a local folder."""
        return cls("sqlite", str(home / "newswatch.lake.sqlite"), str(home / "lake") + "/")

    @classmethod
    def for_path(cls, catalog: Path) -> LakeConfig:
        """The lake a ``--db`` path ending in ``.lake.sqlite`` names: that SQLite catalog,
        its Parquet files in the ``lake/`` folder beside it (``embedded``'s layout) or, for
        another name, in ``<name>.files/``."""
        catalog = Path(catalog).absolute()
        stem = catalog.name.removesuffix(LAKE_SUFFIX)
        folder = "lake" if stem == "newswatch" else f"{stem}.files"
        return cls("sqlite", str(catalog), str(catalog.parent / folder) + "/")


def search_index_path(catalog: Path) -> Path:
    """The DuckDB file beside a lake holding its BM25 index (DuckDB's FTS index cannot be
    built on a lake table): ``x.lake.sqlite`` -> ``x.lake.search.duckdb``."""
    catalog = Path(catalog)
    return catalog.with_name(catalog.name.removesuffix(".sqlite") + ".search.duckdb")


def attach_statements(config: LakeConfig, *, read_only: bool = False) -> list[str]:
    """The SQL any DuckDB client (CLI, notebook, this package) runs to open the lake:
    load the two extensions by path, attach the lake as ``lake``, make it the default."""
    options = [f"DATA_PATH {sql_string(_folder(config.data_path))}"]
    if read_only:
        options.append("READ_ONLY")
    target = f"ducklake:{config.kind}:{config.catalog}"
    return [
        load_statement(extension_path("ducklake")),
        load_statement(extension_path(CATALOG_EXTENSIONS[config.kind])),
        f"ATTACH {sql_string(target)} AS {LAKE} ({', '.join(options)})",
        f"USE {LAKE}",
    ]


def open_lake(
    config: LakeConfig, read_only: bool = False, *, wait: float = 10.0
) -> duckdb.DuckDBPyConnection:
    """A connection with the lake attached and in use. A writer also gets the SQLite
    catalog in WAL mode and the write guard created. Opening is retried for ``wait``
    seconds while another process holds the catalog (e.g. two processes creating it)."""
    if config.kind == "sqlite":
        if read_only and not Path(config.catalog).is_file():
            raise WarehouseError(f"no lake at {describe(config)}: its catalog file is missing")
        if not read_only:
            prepare_sqlite_catalog(Path(config.catalog), wait=wait)
    statements = attach_statements(config, read_only=read_only)
    con = open_duckdb()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if read_only:
            con.execute(f"SET threads = {reader_threads()}")
        for statement in statements[:2]:
            con.execute(statement)
        _retry(lambda: con.execute(statements[2]), wait=wait)
        con.execute(statements[3])
        if not read_only:
            commit_with_retry(con, ensure_write_guard, guard=False)
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(f"cannot open the lake {describe(config)}: {exc}") from exc
    except BaseException:
        con.close()
        raise
    return con


def is_lake_connection(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` reads a lake (``open_lake``: the lake attached and in use)."""
    row = con.execute("SELECT current_database()").fetchone()
    return bool(row and row[0] == LAKE)


def prepare_sqlite_catalog(path: Path, *, wait: float = 10.0) -> None:
    """Create the catalog file if needed and put it in WAL mode (readers then never block
    a commit). A no-op on a file already in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(sqlite3.connect(path, timeout=wait)) as catalog:
            mode = catalog.execute("PRAGMA journal_mode").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                catalog.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise WarehouseError(f"cannot prepare the lake catalog {path}: {exc}") from exc


def ensure_write_guard(con: duckdb.DuckDBPyConnection) -> None:
    """The one-row table every guarded commit updates (created once, idempotently)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {WRITE_GUARD} (id INTEGER, writes BIGINT)")
    con.execute(
        f"INSERT INTO {WRITE_GUARD} SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM {WRITE_GUARD})"
    )


def commit_with_retry(
    con: duckdb.DuckDBPyConnection,
    work: Callable[[duckdb.DuckDBPyConnection], T],
    *,
    attempts: int = 8,
    guard: bool = True,
    first_delay: float = _FIRST_DELAY,
    max_delay: float = _MAX_DELAY,
    on_retry: Callable[[int, duckdb.Error], None] | None = None,
) -> T:
    """Run ``work(con)`` in one transaction and commit it; when the commit (or the work)
    loses a race with another writer, roll back, wait (exponential backoff with jitter)
    and run ``work`` again from the start, at most ``attempts`` times in all.

    ``work`` must do all its reads inside the transaction (it is re-run on a newer
    snapshot). With ``guard`` the transaction also bumps :data:`WRITE_GUARD`, so it
    conflicts with every overlapping write (see the module notes). Other errors are raised
    at once; a race lost ``attempts`` times raises :class:`WarehouseError`.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            con.execute("BEGIN TRANSACTION")
            result = work(con)
            if guard:
                con.execute(f"UPDATE {WRITE_GUARD} SET writes = writes + 1")
            con.execute("COMMIT")
            return result
        except duckdb.Error as exc:
            _rollback(con)
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                raise WarehouseError(
                    f"the lake commit lost to concurrent writers {attempts} times: {exc}"
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost race with another writer (re-running the work may pass)."""
    text = str(exc)
    return any(marker in text for marker in CONFLICT_MARKERS)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with suppress(duckdb.Error):  # no transaction left open: the failed COMMIT ended it
        con.execute("ROLLBACK")


def _retry(action: Callable[[], object], *, wait: float) -> None:
    deadline = time.monotonic() + wait
    delay = _FIRST_DELAY
    while True:
        try:
            action()
            return
        except duckdb.Error as exc:
            remaining = deadline - time.monotonic()
            if not is_conflict(exc) or remaining <= 0:
                raise
            time.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
            delay = min(delay * 2, _MAX_DELAY)


def describe(config: LakeConfig) -> str:
    """The lake in words, a password in the connection string masked."""
    catalog = _PASSWORD.sub(r"\1***", config.catalog)
    return f"{config.kind} catalog {catalog}, data {config.data_path}"


def _folder(data_path: str) -> str:
    return data_path if data_path.endswith("/") else data_path + "/"
