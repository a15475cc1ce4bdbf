"""A lake loader + maintainer that can kill itself (SIGKILL) at a chosen statement, for
tests/test_lake_crash.py.

    python tests/lake_crash_worker.py '<LakeConfig as JSON>' STAGING_DIR

loads every staged batch (``lake_load.load_staged_into_lake``), then runs every maintenance
step with nothing kept (``lake_maintenance.maintain_lake``: snapshots expired, scheduled
and orphaned files deleted at once; nobody else writes), and prints one JSON line: the
load's report and how often each kind of statement ran.

Every statement the lake modules run through ``commit_with_retry`` (schema creation, the
write guard, each batch, each maintenance step) goes through a counting proxy of the
connection, by kind: ``call`` (a ``CALL ducklake_...`` maintenance step), ``commit`` and
``stmt`` (anything else). ``$LAKE_CRASH_AT=<kind>:<n>[:<delay>]`` sends SIGKILL to this
process at the n-th statement of that kind, ``delay`` seconds after it started (from a timer
thread, so the kill lands inside the statement), or before it runs when there is no delay.
``moved:<n>`` kills just before the n-th staged batch is moved to ``loaded/`` (its commit
done). SIGKILL is ``kill -9``: no handler, no cleanup.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from newswatch.warehouse import lake, lake_load, lake_maintenance, lake_schema
from newswatch.warehouse.lake import LakeConfig
from newswatch.warehouse.lake_maintenance import MaintenancePolicy

HITS: Counter[str] = Counter()
NOTHING_KEPT = MaintenancePolicy(timedelta(0), timedelta(0), timedelta(0))


def crash_point(kind: str) -> None:
    HITS[kind] += 1
    target = os.environ.get("LAKE_CRASH_AT", "").split(":")
    if len(target) < 2 or target[0] != kind or int(target[1]) != HITS[kind]:
        return
    delay = float(target[2]) if len(target) > 2 else 0.0
    if delay <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()


def kind_of(sql: str) -> str:
    head = sql.lstrip().upper()
    if head.startswith("CALL DUCKLAKE_"):
        return "call"
    return "commit" if head.startswith("COMMIT") else "stmt"


class Counted:
    """The connection, with a crash point before each ``execute``."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        crash_point(kind_of(sql))
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def install() -> None:
    real = lake.commit_with_retry

    def counted(con: Any, work: Callable[[Any], Any], **kwargs: Any) -> Any:
        return real(Counted(con), work, **kwargs)

    for module in (lake, lake_load, lake_schema, lake_maintenance):
        module.commit_with_retry = counted  # type: ignore[attr-defined]
    move = lake_load._move

    def moved(path: Path, to: str) -> None:
        if to == lake_load.LOADED_DIR:
            crash_point("moved")
        move(path, to)

    lake_load._move = moved  # type: ignore[attr-defined]


def main(argv: list[str]) -> None:
    install()
    config = LakeConfig(**json.loads(argv[0]))
    report = lake_load.load_staged_into_lake(config, Path(argv[1]))
    with lake.open_lake(config) as con:
        steps = lake_maintenance.maintain_lake(con, NOTHING_KEPT).steps
    failed = [asdict(s) for s in steps if s.error]
    print(json.dumps({"report": asdict(report), "hits": dict(HITS), "failed": failed}))


if __name__ == "__main__":
    main(sys.argv[1:])
