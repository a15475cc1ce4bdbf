"""A read-only copy of the database for analysts and ``newswatch sql``.

DuckDB lets only one process open a file, so an analyst's open session on the live file
would make the scheduled load fail (and a load would lock the analyst out). Instead the run
publishes a snapshot after each load: with the writer's lock held (nobody can change the
file meanwhile) CHECKPOINT and copy the file to a temporary name beside the snapshot; release
the lock; build the full-text index on the copy (slow at scale, so never in the writer's
window); then ``os.replace`` it over the snapshot. A session that has the old snapshot open
keeps reading the old inode; the next open sees the new one. Never open the snapshot
read-write: it is overwritten on the next run.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse import search
from warehouse.db import connect

SNAPSHOT_SUFFIX = ".snapshot.duckdb"


@dataclass(frozen=True)
class SnapshotReport:
    path: Path
    bytes: int
    seconds: float  # total
    copy_seconds: float  # time the live database was held
    index_seconds: float  # full-text index build on the copy


def default_snapshot_path(db_path: Path) -> Path:
    """``data/newswatch.duckdb`` -> ``data/newswatch.snapshot.duckdb``."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + SNAPSHOT_SUFFIX)


def publish_snapshot(
    db_path: Path,
    snapshot_path: Path | None = None,
    *,
    lock_timeout: float = 30.0,
    search_index: bool = True,
) -> SnapshotReport:
    """Replace the snapshot with a checkpointed copy of ``db_path`` (plus its BM25 index).

    Raises ``WarehouseLocked`` when the live file stays locked for ``lock_timeout`` seconds;
    the previous snapshot is then left as it was.
    """
    snapshot_path = Path(snapshot_path or default_snapshot_path(db_path))
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with connect(db_path, lock_timeout=lock_timeout) as con:
            con.execute("CHECKPOINT")
            shutil.copyfile(db_path, tmp)
        copied = time.perf_counter()
        if search_index:
            with duckdb.connect(str(tmp)) as copy:
                search.refresh_index(copy)
                copy.execute("CHECKPOINT")
        indexed = time.perf_counter()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, snapshot_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return SnapshotReport(
        path=snapshot_path,
        bytes=snapshot_path.stat().st_size,
        seconds=time.perf_counter() - started,
        copy_seconds=copied - started,
        index_seconds=indexed - copied,
    )
