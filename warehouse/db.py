"""Open the DuckDB file: bounded retry on a held lock, migrations applied on a writer.

DuckDB locks the whole file per process: while one process has it open (read-only or not),
no other process can open it, and opening fails at once instead of waiting. So writers keep
their window short and everyone retries here with a bounded backoff.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import duckdb

from newswatch.errors import WarehouseError, WarehouseLocked
from warehouse import migrations

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
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    elif not db_path.exists():
        raise WarehouseError(f"no database at {db_path}: run `newswatch run` first")
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


def _open_with_retry(
    db_path: Path, *, read_only: bool, lock_timeout: float
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + max(lock_timeout, 0.0)
    delay = _FIRST_DELAY
    while True:
        try:
            return duckdb.connect(str(db_path), read_only=read_only)
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
    return (
        f"cannot open {db_path}: {exc}. If the file or its .wal is damaged, keep both files, "
        "restore the last snapshot or backup copy, and re-load the batches still staged "
        "(they are loaded idempotently)."
    )
