"""A read-only copy of the database for analysts and ``newswatch sql``.

DuckDB lets only one process open a file, so an analyst's open session on the live file
would make the scheduled load fail (and a load would lock the analyst out). Instead the run
publishes a snapshot after each load: with the writer's lock held (nobody can change the
file meanwhile) CHECKPOINT and copy the file to a temporary name beside the snapshot; release
the lock; build the full-text index on the copy (slow at scale, so never in the writer's
window); then ``os.replace`` it over the snapshot. A session that has the old snapshot open
keeps reading the old inode; the next open sees the new one. Never open the snapshot
read-write: it is overwritten on the next run.

The temporary copy is named ``.<snapshot>.<pid>-<random>.tmp`` (plus DuckDB's ``.wal``
beside it while the index is built). A publisher killed mid-way leaves it behind; the next
publish removes every such leftover whose process is gone (or, when this process holds the
writer lock, any other process's: nobody else may publish then), never a live publisher's.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from newswatch.core.settings import default_snapshot_path
from newswatch.warehouse import search
from newswatch.warehouse.db import connect, is_lake_catalog, open_duckdb
from newswatch.warehouse.writer_lock import held_here


@dataclass(frozen=True)
class SnapshotReport:
    path: Path
    bytes: int
    seconds: float  # total
    copy_seconds: float  # time the live database was held
    index_seconds: float  # full-text index build on the copy
    leftovers_removed: tuple[Path, ...] = ()  # temp files of interrupted publishes


def publish_snapshot(
    db_path: Path,
    snapshot_path: Path | None = None,
    *,
    lock_timeout: float = 30.0,
    search_index: bool = True,
) -> SnapshotReport:
    """Replace the snapshot with a checkpointed copy of ``db_path`` (plus its BM25 index).

    Raises ``WarehouseLocked`` when the live file stays locked for ``lock_timeout`` seconds;
    the previous snapshot is then left as it was. A lake (``*.lake.sqlite``) has no
    snapshot: readers read it live; only its index file is brought up to date
    (``lake_search``), and only when articles changed.
    """
    if is_lake_catalog(db_path):
        return _publish_lake_index(Path(db_path), search_index)
    snapshot_path = Path(snapshot_path or default_snapshot_path(db_path))
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    removed = remove_leftovers(snapshot_path)
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with connect(db_path, lock_timeout=lock_timeout) as con:
            con.execute("CHECKPOINT")
            shutil.copyfile(db_path, tmp)
        copied = time.perf_counter()
        if search_index:
            with open_duckdb(tmp) as copy:
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
        leftovers_removed=removed,
    )


def _publish_lake_index(catalog: Path, search_index: bool) -> SnapshotReport:
    from newswatch.warehouse.lake import search_index_path
    from newswatch.warehouse.lake_search import publish_lake_index

    path = search_index_path(catalog)
    if not search_index:
        return SnapshotReport(path, 0, 0.0, 0.0, 0.0)
    report = publish_lake_index(catalog, path)
    size = path.stat().st_size if path.exists() else 0
    return SnapshotReport(
        path, size, report.seconds, 0.0, report.seconds if report.rebuilt else 0.0
    )


def remove_leftovers(snapshot_path: Path) -> tuple[Path, ...]:
    """Delete the temp files interrupted publishes of ``snapshot_path`` left; returns them."""
    snapshot_path = Path(snapshot_path)
    pattern = re.compile(rf"^\.{re.escape(snapshot_path.name)}\.(?:(\d+)-)?[0-9a-f]+\.tmp(\.wal)?$")
    locked_here = held_here(snapshot_path.parent)
    removed = []
    for candidate in snapshot_path.parent.glob(f".{snapshot_path.name}.*.tmp*"):
        match = pattern.match(candidate.name)
        if not match:
            continue
        pid = int(match.group(1)) if match.group(1) else None  # None: an older, pid-less name
        if pid == os.getpid() or (pid is not None and _alive(pid) and not locked_here):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return tuple(sorted(removed))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
