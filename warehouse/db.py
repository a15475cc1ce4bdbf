"""Open the DuckDB file: bounded retry on a held lock, migrations applied on a writer.

DuckDB locks the whole file per process: while one process has it open (read-only or not),
no other process can open it, and opening fails at once instead of waiting. So writers keep
their window short and everyone retries here with a bounded backoff.

Every connection the project opens goes through :func:`open_duckdb` (``connect`` uses it),
which turns off extension auto-install and auto-load: DuckDB would otherwise download an
extension from the internet when a query or a file needs one (a SQLite file given as
``--db`` made it fetch ``sqlite_scanner``). The one extension used, FTS, is loaded from the
pip wheel's file (``newswatch.warehouse.search.load_extension``). :func:`lock_down` then shuts a
connection off from the file system for statements the user types (``newswatch sql``), and
:func:`storage_error` turns an I/O failure (disk full) into one sentence with the path and
the OS error.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError, WarehouseLocked
from newswatch.core.settings import DATA_HOME_RULE
from newswatch.warehouse import migrations

# Set when the database instance starts (they cannot be changed by a later SET once
# ``lock_down`` has locked the configuration): never fetch or auto-load an extension.
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_SQLITE_MAGIC = b"SQLite format 3\x00"
LAKE_SUFFIX = ".lake.sqlite"  # a --db path with this ending is a lake's catalog
_MISSING_EXTENSION = re.compile(r'Extension "[^"]*?(?P<name>\w+)\.duckdb_extension" not found')
_NO_SPACE_MARKERS = ("No space left on device", "Disk quota exceeded", "disk is full")
_IO_PATH = re.compile(r'(?:file|directory) "(?P<path>[^"]+)"')

_LOCK_MARKERS = ("Could not set lock", "Conflicting lock")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?\(PID \d+\))")
_FIRST_DELAY = 0.05
_MAX_DELAY = 2.0


def connect(
    db_path: Path, *, read_only: bool = False, lock_timeout: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """Open ``db_path``; a writer also gets every pending migration applied.

    A held lock is retried with exponential backoff (plus jitter) for ``lock_timeout``
    seconds, then :class:`WarehouseLocked` says who holds it. The connection works as a
    context manager (``with connect(path) as con: ...``).
    """
    db_path = Path(db_path)
    if is_lake_catalog(db_path):
        return connect_lake(db_path, read_only=read_only, lock_timeout=lock_timeout)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    elif not db_path.exists():
        raise WarehouseError(
            f"no database at {db_path} (the database is {DATA_HOME_RULE}): run "
            "`newswatch run` first, or set NEWSWATCH_HOME to the folder of an existing "
            "newswatch.duckdb, or pass --db FILE"
        )
    refuse_foreign_file(db_path)
    con = _open_with_retry(db_path, read_only=read_only, lock_timeout=lock_timeout)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if read_only:
            migrations.refuse_newer(con)
        else:
            migrations.apply(con)
    except BaseException:
        con.close()
        raise
    return con


def is_lake_catalog(db_path: Path | str) -> bool:
    """A ``--db`` ending in ``.lake.sqlite`` is a DuckLake (``warehouse/lake.py``)."""
    return str(db_path).endswith(LAKE_SUFFIX)


def connect_lake(
    catalog: Path, *, read_only: bool = False, lock_timeout: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """The lake named by its SQLite catalog, attached and in use (so every query of the
    package runs on it unchanged); a writer also gets its schema brought up to date.
    Readers and writers never wait for each other; ``lock_timeout`` bounds the wait for
    another process creating the catalog."""
    from newswatch.warehouse.lake import LakeConfig, open_lake
    from newswatch.warehouse.lake_schema import ensure_lake_schema

    if read_only and not Path(catalog).exists():
        raise WarehouseError(
            f"no lake at {catalog} (the database is {DATA_HOME_RULE}): run `newswatch run "
            "--db` with it first"
        )
    con = open_lake(LakeConfig.for_path(catalog), read_only=read_only, wait=lock_timeout)
    try:
        if not read_only:
            ensure_lake_schema(con)
    except BaseException:
        con.close()
        raise
    return con


def _open_with_retry(
    db_path: Path, *, read_only: bool, lock_timeout: float
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + max(lock_timeout, 0.0)
    delay = _FIRST_DELAY
    while True:
        try:
            return open_duckdb(db_path, read_only=read_only)
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise WarehouseError(_open_failure_message(db_path, exc)) from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseLocked(_locked_message(db_path, exc, lock_timeout)) from exc
            time.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
            delay = min(delay * 2, _MAX_DELAY)
        except duckdb.Error as exc:
            raise WarehouseError(_open_failure_message(db_path, exc)) from exc


def open_duckdb(
    path: Path | str = ":memory:", *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` with :data:`DUCKDB_CONFIG`: no extension is ever downloaded or
    loaded behind our back. Use it for every raw connection (copies, in-memory work)."""
    return duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_CONFIG))


def refuse_foreign_file(db_path: Path) -> None:
    """Raise a clear error when ``db_path`` is not a DuckDB file DuckDB could open without
    an extension, e.g. a SQLite file given as ``--db`` by mistake. A damaged DuckDB file
    (its header overwritten) is left to DuckDB's own error and the recovery advice."""
    try:
        with open(db_path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return  # missing or unreadable: DuckDB creates it or says why
    if head.startswith(_SQLITE_MAGIC):
        raise WarehouseError(
            f"not a DuckDB database: {db_path} is a SQLite file. newswatch keeps its "
            "warehouse in DuckDB; give --db the .duckdb file (nothing was changed or "
            "downloaded)"
        )


def lock_down(con: duckdb.DuckDBPyConnection, readable: Sequence[Path] = ()) -> None:
    """Cut ``con`` off from the file system and lock its configuration, for statements a
    user types: no COPY … TO, EXPORT, ATTACH of another file, read_csv/read_parquet/glob of
    other files, INSTALL or LOAD; and no SET can turn any of it back on. Load every
    extension needed (FTS) before calling this.

    DuckDB still reaches the open database's own file (even a COPY … TO it with
    ``USE_TMP_FILE false``), and the folders in ``readable`` (read *and* write, in
    DuckDB's terms), so a shell must also refuse every statement but queries
    (``newswatch.warehouse.shell.check_query``).
    """
    if readable:
        folders = [os.path.abspath(folder) for folder in readable]
        con.execute("SET allowed_directories = $folders", {"folders": folders})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def storage_error(exc: BaseException) -> str | None:
    """One sentence for an out-of-space failure (``None`` for any other error): DuckDB says
    e.g. ``Could not write file "…/news.duckdb.wal": No space left on device``."""
    text = str(exc)
    reason = next((m for m in _NO_SPACE_MARKERS if m.lower() in text.lower()), None)
    if reason is None:
        return None
    found = _IO_PATH.search(text)
    where = found.group("path") if found else "the database's folder"
    return f"no space left on device: cannot write {where} (OS error: {reason})"


def describe_error(exc: BaseException) -> str:
    """``storage_error`` when it applies, else DuckDB's own message."""
    return storage_error(exc) or str(exc)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether ``name`` exists: a file opened read-only may predate the first migration
    (e.g. created by an analyst's ``duckdb`` session before the first load)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def is_lock_error(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in _LOCK_MARKERS)


def lock_holder(exc: BaseException) -> str | None:
    """The process DuckDB names in a lock error, e.g. ``/usr/bin/duckdb (PID 42)``."""
    match = _HOLDER.search(str(exc))
    return match.group("holder") if match else None


def _locked_message(db_path: Path, exc: BaseException, waited: float) -> str:
    holder = lock_holder(exc) or "another process"
    return (
        f"{db_path} is held by {holder}; gave up after {waited:g} s. "
        "Close that session (analysts: open the snapshot instead, see docs/QUERIES.md) "
        "or retry later."
    )


def _open_failure_message(db_path: Path, exc: BaseException) -> str:
    full = storage_error(exc)
    if full:
        return f"cannot open {db_path}: {full}; free space there and retry"
    text = str(exc)
    if _MISSING_EXTENSION.search(text) or "Failed to download extension" in text:
        return (
            f"not a DuckDB database: {db_path} (DuckDB would need an extension to read it, "
            "and newswatch never installs extensions); give --db a .duckdb file"
        )
    return (
        f"cannot open {db_path}: {exc}. If the file or its .wal is damaged, keep both files, "
        "restore the last snapshot or backup copy, and re-load the batches still staged "
        "(they are loaded idempotently)."
    )
