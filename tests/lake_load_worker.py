"""Processes for tests/test_lake_load.py: a loader, and a reader holding a session open.

    python tests/lake_load_worker.py loader '<LakeConfig as JSON>' STAGING_DIR GO_FILE
    python tests/lake_load_worker.py reader '<LakeConfig as JSON>' EXPECTED DONE_FILE

The loader waits for GO_FILE, runs ``load_staged_into_lake`` and prints its report and the
per-batch timings as one JSON line. The reader opens the lake read-only, begins a
transaction on one cursor (a snapshot held for the whole load), prints ``ready``, and polls
``count(*) FROM articles`` on a second cursor until it sees EXPECTED rows and DONE_FILE
exists; then it reads the held snapshot once more, commits it and reads again.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import duckdb

from newswatch.warehouse.lake import LAKE, LakeConfig, open_lake
from newswatch.warehouse.lake_load import BatchTiming, load_staged_into_lake

POLL_GAP = 0.02
DEADLINE = 120.0


def loader(config: LakeConfig, staging_dir: Path, go: Path) -> dict[str, object]:
    while not go.exists():
        time.sleep(0.005)
    timings: list[BatchTiming] = []
    started = time.monotonic()
    report = load_staged_into_lake(config, staging_dir, on_batch=timings.append)
    return {
        "seconds": time.monotonic() - started,
        "finished": time.time(),
        "report": asdict(report),
        "batches": [asdict(t) for t in timings],
    }


def reader(config: LakeConfig, expected: int, done: Path) -> dict[str, object]:
    con = open_lake(config, read_only=True)
    held, poller = con.cursor(), con.cursor()  # a cursor starts on the default database
    for cursor in (held, poller):
        cursor.execute(f"USE {LAKE}")
    held.execute("BEGIN TRANSACTION")
    held_before = _count(held)
    print("ready", flush=True)
    polls: list[tuple[float, int, float]] = []  # (ended at, rows seen, query seconds)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        began = time.monotonic()
        rows = _count(poller)
        polls.append((time.time(), rows, time.monotonic() - began))
        if rows >= expected and done.exists():
            break
        time.sleep(POLL_GAP)
    held_after_load = _count(held)
    held.execute("COMMIT")
    fresh = _count(held)
    con.close()
    return {
        "held_before": held_before,
        "held_after_load": held_after_load,
        "after_commit": fresh,
        "polls": polls,
    }


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.execute("SELECT count(*) FROM articles").fetchone()
    assert row is not None
    return int(row[0])


def main(argv: list[str]) -> None:
    role, config = argv[0], LakeConfig(**json.loads(argv[1]))
    if role == "loader":
        result = loader(config, Path(argv[2]), Path(argv[3]))
    elif role == "reader":
        result = reader(config, int(argv[2]), Path(argv[3]))
    else:
        raise SystemExit(f"unknown role {role}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
