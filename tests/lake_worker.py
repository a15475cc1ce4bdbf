"""Separate processes for tests/test_lake.py: a reader holding one lake session open while
it polls, a batch writer, and a MERGE writer. Each prints one JSON line when done.

    python tests/lake_worker.py reader CONFIG_JSON TARGET_ROWS
    python tests/lake_worker.py writer CONFIG_JSON BATCHES SIZE
    python tests/lake_worker.py merger CONFIG_JSON WORKER BATCHES SIZE GO_FILE
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from newswatch.warehouse.lake import LakeConfig, commit_with_retry, open_lake

READER_DEADLINE = 120.0
POLL_INTERVAL = 0.005
WRITE_GAP = 0.05  # between batches, as a stream of small loads
MERGE_HOLD = 0.03  # a load's other statements: keeps two writers' transactions overlapping


def reader(config: LakeConfig, target: int) -> dict[str, object]:
    con = open_lake(config, read_only=True)
    print("ready", flush=True)
    polls: list[tuple[float, float, int, float]] = []  # (began, ended, rows seen, seconds)
    deadline = time.monotonic() + READER_DEADLINE
    while time.monotonic() < deadline:
        began, started = time.time(), time.monotonic()
        row = con.execute("SELECT count(*) FROM events").fetchone()
        seen = int(row[0]) if row else 0
        polls.append((began, time.time(), seen, time.monotonic() - started))
        if seen >= target:
            break
        time.sleep(POLL_INTERVAL)
    con.close()
    return {"polls": polls}


def writer(config: LakeConfig, batches: int, size: int) -> dict[str, object]:
    con = open_lake(config)
    commits: list[tuple[float, float, float]] = []  # (began, committed, seconds)
    retries = 0

    def count_retry(_attempt: int, _exc: duckdb.Error) -> None:
        nonlocal retries
        retries += 1

    for batch in range(batches):
        low = batch * size

        def insert(con: duckdb.DuckDBPyConnection, low: int = low) -> None:
            con.execute(
                "INSERT INTO events SELECT range AS key, 'writer' AS source, "
                "repeat('x', 200) AS body FROM range(?, ?)",
                [low, low + size],
            )

        began, started = time.time(), time.monotonic()
        commit_with_retry(con, insert, on_retry=count_retry)
        commits.append((began, time.time(), time.monotonic() - started))
        time.sleep(WRITE_GAP)
    con.close()
    return {"commits": commits, "retries": retries}


def merger(config: LakeConfig, worker: int, batches: int, size: int, go: Path) -> dict[str, object]:
    con = open_lake(config)
    while not go.exists():
        time.sleep(0.005)
    commits: list[float] = []
    retry_messages: list[str] = []

    def note_retry(_attempt: int, exc: duckdb.Error) -> None:
        retry_messages.append(str(exc).splitlines()[-1][:200])

    for batch in range(batches):
        low = batch * size + worker * (size // 2)  # overlaps the other worker's batches

        def merge(con: duckdb.DuckDBPyConnection, low: int = low) -> None:
            con.execute(
                "MERGE INTO events USING (SELECT range AS key, ? AS source, "
                "repeat('x', 200) AS body FROM range(?, ?)) AS new ON events.key = new.key "
                "WHEN NOT MATCHED THEN INSERT VALUES (new.key, new.source, new.body)",
                [f"worker{worker}", low, low + size],
            )
            time.sleep(MERGE_HOLD)

        started = time.monotonic()
        commit_with_retry(con, merge, attempts=20, on_retry=note_retry)
        commits.append(time.monotonic() - started)
    con.close()
    return {"commits": commits, "retries": len(retry_messages), "messages": retry_messages}


def main(argv: list[str]) -> None:
    role, config = argv[0], LakeConfig(**json.loads(argv[1]))
    if role == "reader":
        result = reader(config, int(argv[2]))
    elif role == "writer":
        result = writer(config, int(argv[2]), int(argv[3]))
    elif role == "merger":
        result = merger(config, int(argv[2]), int(argv[3]), int(argv[4]), Path(argv[5]))
    else:
        raise SystemExit(f"unknown role {role}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
