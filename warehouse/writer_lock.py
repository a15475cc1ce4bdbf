"""One writer per data directory: ``run``, ``watch`` ticks, ``backfill``, ``alerts send`` and
deployment runs all hold ``<data_dir>/.writer.lock`` (an ``flock``) while they write.

DuckDB's own file lock only covers one connection at a time; between connections a second
process could poll the same feeds, load the same staging directory or send the same due
alerts. This lock covers the whole write: poll -> stage -> load -> publish -> send.

The lock is re-entrant within one process (``flock`` belongs to an open file description,
so a second ``open()`` in the same process would block on itself): ``newswatch run`` takes
it before starting Prefect and the flow it calls takes it again for free. The file holds
who has it (``newswatch run, PID 4242, since 2026-07-14T06:00:01Z``) so a refused caller
can name the holder. The kernel drops the lock when the holder dies (even by SIGKILL), so a
crash never leaves it stuck. Pure file locking: no Prefect, no DuckDB.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from newswatch.core.errors import WarehouseLocked

LOCK_NAME = ".writer.lock"
POLL_SECONDS = 0.1


@dataclass
class _Hold:
    handle: IO[str]
    depth: int


_held: dict[Path, _Hold] = {}
_guard = threading.Lock()


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / LOCK_NAME


def holder(data_dir: Path) -> str | None:
    """Who holds the writer lock of ``data_dir`` now (None when nobody does)."""
    path = lock_path(data_dir)
    if not path.exists():
        return None
    with _guard:
        if path in _held:
            return _read(_held[path].handle)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle) or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def held_here(data_dir: Path) -> bool:
    """True when this process holds the writer lock of ``data_dir``."""
    with _guard:
        return lock_path(data_dir) in _held


@contextmanager
def writer_lock(data_dir: Path, purpose: str, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the writer lock of ``data_dir`` for the block.

    Waits up to ``wait`` seconds for another holder, then raises ``WarehouseLocked`` naming
    it. ``purpose`` (e.g. ``newswatch run``) is written into the lock file for that message.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(data_dir)
    _acquire(path, purpose, wait)
    try:
        yield
    finally:
        _release(path)


def _acquire(path: Path, purpose: str, wait: float) -> None:
    deadline = time.monotonic() + max(wait, 0.0)
    handle: IO[str] | None = None
    try:
        while True:
            with _guard:
                if path in _held:  # re-entry from this process: count it, no new flock
                    _held[path].depth += 1
                    return
                if handle is None:
                    handle = path.open("a+", encoding="utf-8")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(_describe(purpose))
                    handle.flush()
                    _held[path] = _Hold(handle, 1)
                    handle = None  # owned by _held now
                    return
            if time.monotonic() >= deadline:
                assert handle is not None
                who = _read(handle) or "another process"
                waited = f" (waited {wait:g} s)" if wait > 0 else ""
                raise WarehouseLocked(
                    f"the warehouse in {path.parent} is being written by {who}{waited}; "
                    f"this {purpose} did nothing. Let it finish (or stop it) and retry."
                )
            time.sleep(POLL_SECONDS)
    finally:
        if handle is not None:
            handle.close()


def _release(path: Path) -> None:
    with _guard:
        hold = _held[path]
        hold.depth -= 1
        if hold.depth:
            return
        del _held[path]
        # leave the holder text in place: harmless once unlocked, and useful after a crash
        fcntl.flock(hold.handle, fcntl.LOCK_UN)
        hold.handle.close()


def _describe(purpose: str) -> str:
    command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:2]))
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{purpose} (PID {os.getpid()}: {command}, since {since})"


def _read(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip()


__all__ = ["LOCK_NAME", "held_here", "holder", "lock_path", "writer_lock"]
