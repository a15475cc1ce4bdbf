"""``python -m tests.reliability.crashable ARGS`` = ``newswatch ARGS`` with crash points.

The ingest code is unchanged; this entry point wraps a few of its functions (in this process
only) so that each one, on entry, appends ``<name> <monotonic seconds>`` to the trace file
``$NEWSWATCH_CRASH_TRACE`` and, when ``$NEWSWATCH_CRASH_AT`` is ``<name>:<n>[:<delay>]``,
sends itself SIGKILL at the n-th hit (``delay`` seconds later, from a timer thread, so the
kill lands inside the operation). ``$NEWSWATCH_CRASH_AFTER=<seconds>`` kills at a wall-clock
offset instead, and ``$NEWSWATCH_FAIL_AT=<name>:<n>:<ERRNO>`` raises that OSError there
(e.g. ``stage-write:3:ENOSPC``, a disk filling up while staging);
``$NEWSWATCH_PAUSE_AT=<name>:<path>`` waits there until ``path`` exists. SIGKILL from inside is
the same as ``kill -9`` from outside: no handler, no flush, no cleanup runs.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_hits: dict[str, int] = {}
_lock = threading.Lock()


def _die_after(seconds: float) -> None:
    def kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if seconds <= 0:
        kill()
    timer = threading.Timer(seconds, kill)
    timer.daemon = True
    timer.start()


def _wait_for_file(path: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def crash_point(name: str) -> None:
    """Record that ``name`` was reached; die here if this is the configured point."""
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
        trace = os.environ.get("NEWSWATCH_CRASH_TRACE")
        if trace:
            with open(trace, "a", encoding="utf-8") as out:
                out.write(f"{name} {hit} {time.monotonic():.4f}\n")
                out.flush()
                os.fsync(out.fileno())
    fail = os.environ.get("NEWSWATCH_FAIL_AT", "").split(":")
    if len(fail) == 3 and fail[0] == name and int(fail[1]) == hit:
        code = getattr(errno, fail[2])
        raise OSError(code, os.strerror(code))
    pause = os.environ.get("NEWSWATCH_PAUSE_AT", "").split(":", 1)
    if len(pause) == 2 and pause[0] == name:
        _wait_for_file(pause[1])
    target = os.environ.get("NEWSWATCH_CRASH_AT", "")
    if not target:
        return
    parts = target.split(":")
    if parts[0] == name and int(parts[1]) == hit:
        _die_after(float(parts[2]) if len(parts) > 2 else 0.0)


def _wrap(owner: Any, attribute: str, name: str) -> None:
    original: Callable[..., Any] = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        crash_point(name)
        return original(*args, **kwargs)

    setattr(owner, attribute, wrapper)


class _Connection:
    """A DuckDB connection that reports CHECKPOINT and COMMIT statements as crash points."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, statement: str, *args: Any, **kwargs: Any) -> Any:
        keyword = statement.strip().split()[0].upper() if statement.strip() else ""
        if keyword in {"CHECKPOINT", "COMMIT"}:
            crash_point(f"load-{keyword.lower()}")
        return self._con.execute(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def install() -> None:
    import pyarrow.parquet as pq

    import newswatch.flows.alerting
    import newswatch.flows.stages
    import newswatch.flows.tasks
    import newswatch.warehouse.load
    import newswatch.warehouse.load_rules

    for attribute, name in [
        ("poll", "poll"),
        ("fetch", "fetch"),
        ("extract", "extract"),
        ("judge", "judge"),
        ("raise_alerts", "raise-alerts"),
    ]:
        _wrap(newswatch.flows.stages, attribute, name)
    _wrap(pq, "write_table", "stage-write")  # one call per staged table
    _wrap(newswatch.flows.tasks, "load_staged", "load")
    # 6 row counts inside each batch's transaction: 3 before its inserts, 3 after
    _wrap(newswatch.warehouse.load_rules, "count", "load-transaction")
    _wrap(newswatch.warehouse.load, "move_batch", "load-move")  # after COMMIT, before the move
    _wrap(newswatch.flows.tasks, "publish_snapshot", "snapshot")
    _wrap(newswatch.flows.alerting, "deliver", "alert-send")
    _wrap(newswatch.flows.alerting, "record_attempts", "alert-mark")  # sent, not yet marked

    connect = newswatch.warehouse.load.connect

    def crashable_connect(*args: Any, **kwargs: Any) -> Any:
        return _Connection(connect(*args, **kwargs))

    newswatch.warehouse.load.connect = crashable_connect  # type: ignore[assignment]


def main() -> int:
    after = os.environ.get("NEWSWATCH_CRASH_AFTER")
    if after:
        _die_after(float(after))
    crash_point("start")
    install()
    from newswatch.cli import main as cli_main

    code = cli_main(sys.argv[1:], exit_at_once_on_lost_api=True)  # as the console script does
    crash_point("end")
    return code


if __name__ == "__main__":
    sys.exit(main())
elif __name__ == "__mp_main__":
    # a process spawned by a crashable one (Prefect's runner runs each served flow run -
    # `newswatch watch`'s - in a spawned child, which re-imports the parent's main module
    # under this name): the same crash points there
    install()
