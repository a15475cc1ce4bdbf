"""The DuckLake groundwork (issue 16) on real processes, real files and a real PostgreSQL.

Extensions come from their wheels (no download); the lake is opened the way any DuckDB
client would (``attach_statements``); a reader process holds one session open while a
writer process commits; two writer processes MERGE overlapping keys. Every lake test runs
against a SQLite catalog and a PostgreSQL catalog (a server started here, in a temp folder,
on a free port; skipped only when the binaries are missing).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import duckdb
import pytest

from newswatch.core.errors import WarehouseError
from newswatch.warehouse import extensions
from newswatch.warehouse.db import open_duckdb
from newswatch.warehouse.extensions import extension_path, load_extensions
from newswatch.warehouse.lake import (
    WRITE_GUARD,
    LakeConfig,
    attach_statements,
    commit_with_retry,
    open_lake,
)

WORKER = Path(__file__).with_name("lake_worker.py")
REPO_ROOT = Path(__file__).resolve().parent.parent
BATCHES, BATCH_ROWS = 20, 1000
MAX_WAIT = 2.0  # "neither waits": no commit and no reader query may take longer


def create_events(config: LakeConfig) -> None:
    with open_lake(config) as con:
        commit_with_retry(
            con,
            lambda c: c.execute("CREATE TABLE events (key BIGINT, source VARCHAR, body VARCHAR)"),
        )


def counts(config: LakeConfig) -> tuple[int, int]:
    with open_lake(config, read_only=True) as con:
        row = con.execute("SELECT count(*), count(DISTINCT key) FROM events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def start(role: str, config: LakeConfig, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), role, json.dumps(asdict(config)), *map(str, args)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str], timeout: float = 180) -> dict[str, list]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


# -- extensions from the wheels ------------------------------------------------------------


def test_every_extension_comes_from_its_wheel_and_loads(tmp_path: Path) -> None:
    names = {"ducklake": "ducklake", "sqlite": "sqlite_scanner"}
    names |= {"postgres": "postgres_scanner", "fts": "fts"}
    for name, entry_point in names.items():
        path = extension_path(name, cache_dir=tmp_path)
        assert path.name == f"{entry_point}.duckdb_extension"
        assert path.is_file()
        assert f"v{duckdb.__version__}" in str(path)
    # the sqlite wheel names its file sqlite.duckdb_extension: a link under the entry
    # point's name, in the cache, pointing at the wheel's file
    alias = extension_path("sqlite", cache_dir=tmp_path)
    assert alias.is_relative_to(tmp_path)
    assert alias.resolve().name == "sqlite.duckdb_extension"
    assert extension_path("sqlite", cache_dir=tmp_path) == alias  # reused, not remade

    con = open_duckdb()
    load_extensions(con, "ducklake", "sqlite", "postgres", "fts")
    loaded = {
        row[0]
        for row in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    assert {"ducklake", "sqlite_scanner", "postgres_scanner", "fts"} <= loaded


def test_a_missing_wheel_is_named() -> None:
    with pytest.raises(WarehouseError, match=rf"duckdb-extension-nosuch=={duckdb.__version__}"):
        extension_path("nosuch")
    con = open_duckdb()
    with pytest.raises(WarehouseError, match="duckdb-extension-nosuch"):
        load_extensions(con, "nosuch")


def test_a_stale_alias_is_replaced(tmp_path: Path) -> None:
    alias = extension_path("sqlite", cache_dir=tmp_path)
    alias.unlink()
    alias.write_bytes(b"not an extension")
    assert extension_path("sqlite", cache_dir=tmp_path) == alias
    assert alias.resolve().name == "sqlite.duckdb_extension"
    assert extensions.default_cache_dir().name == "duckdb-extensions"


# -- opening the lake ----------------------------------------------------------------------


def test_config_is_checked() -> None:
    with pytest.raises(WarehouseError, match="unknown lake catalog kind"):
        LakeConfig("duckdb", "x.ducklake", "data/")  # type: ignore[arg-type]  # on purpose
    with pytest.raises(WarehouseError, match="catalog and a data path"):
        LakeConfig("sqlite", "", "data/")


def test_attach_statements_open_the_lake_from_a_plain_client(lake: LakeConfig) -> None:
    create_events(lake)
    with open_lake(lake) as con:
        commit_with_retry(con, lambda c: c.execute("INSERT INTO events VALUES (1, 'a', 'b')"))

    statements = attach_statements(lake, read_only=True)
    assert statements[0].startswith("LOAD '") and "ducklake.duckdb_extension" in statements[0]
    assert f"ATTACH 'ducklake:{lake.kind}:{lake.catalog}' AS lake" in statements[2]
    assert statements[-1] == "USE lake"
    client = open_duckdb()  # what the duckdb CLI or a notebook does with the printed SQL
    for statement in statements:
        client.execute(statement)
    assert client.execute("SELECT key, source FROM events").fetchall() == [(1, "a")]
    with pytest.raises(duckdb.Error, match="read-only"):
        client.execute("INSERT INTO events VALUES (2, 'a', 'b')")


def test_a_writer_puts_the_sqlite_catalog_in_wal_mode(tmp_path: Path) -> None:
    config = LakeConfig.embedded(tmp_path)
    with pytest.raises(WarehouseError, match="catalog file is missing"):
        open_lake(config, read_only=True)
    open_lake(config).close()
    with sqlite3.connect(config.catalog) as catalog:
        assert catalog.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_long_read_transaction_keeps_its_snapshot_and_blocks_no_commit(
    lake: LakeConfig,
) -> None:
    """An analyst's open transaction (one snapshot for many queries) while a loader commits:
    on a SQLite catalog in its default rollback mode every such commit failed with
    "database is locked" after ~5 s (measured); in WAL mode, as ``open_lake`` sets, none."""
    create_events(lake)
    reader, writer = open_lake(lake, read_only=True), open_lake(lake)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM events").fetchone() == (0,)
    for batch in range(3):
        started = time.monotonic()
        commit_with_retry(writer, merge("writer", batch * 10, batch * 10 + 10), attempts=1)
        assert time.monotonic() - started < MAX_WAIT
    assert reader.execute("SELECT count(*) FROM events").fetchone() == (0,)  # its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM events").fetchone() == (30,)  # the newest


# -- commits under concurrency -------------------------------------------------------------


MERGE = (
    "MERGE INTO events USING (SELECT range AS key, ? AS source, '' AS body "
    "FROM range(?, ?)) AS new ON events.key = new.key "
    "WHEN NOT MATCHED THEN INSERT VALUES (new.key, new.source, new.body)"
)


def merge(source: str, low: int, high: int) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(MERGE, [source, low, high])

    return work


def test_overlapping_merges_without_the_guard_are_unsafe(lake: LakeConfig) -> None:
    """Why the guard exists: DuckLake lets two overlapping inserts of one key both commit on
    PostgreSQL; on SQLite the later commit fails. Neither is a correct keyed load."""
    create_events(lake)
    first, second = open_lake(lake), open_lake(lake)
    first.execute("BEGIN")
    second.execute("BEGIN")
    first.execute(MERGE, ["first", 0, 100])
    second.execute(MERGE, ["second", 50, 150])
    first.execute("COMMIT")
    if lake.kind == "postgres":
        second.execute("COMMIT")
        assert counts(lake) == (200, 150)  # 50 keys stored twice
    else:
        with pytest.raises(duckdb.Error, match="database is locked"):
            second.execute("COMMIT")
        assert counts(lake) == (100, 100)  # the second batch lost


def test_commit_with_retry_reruns_a_merge_that_lost_the_race(lake: LakeConfig) -> None:
    create_events(lake)
    first, second = open_lake(lake), open_lake(lake)
    attempts: list[int] = []
    retried: list[str] = []

    def work(con: duckdb.DuckDBPyConnection) -> None:
        attempts.append(1)
        con.execute(MERGE, ["second", 50, 150])
        if len(attempts) == 1:  # another writer commits overlapping keys meanwhile
            commit_with_retry(first, merge("first", 0, 100))

    commit_with_retry(second, work, on_retry=lambda _n, exc: retried.append(str(exc)))
    assert len(attempts) == 2
    assert retried and ("conflict" in retried[0] or "locked" in retried[0])
    assert counts(lake) == (150, 150)
    with open_lake(lake, read_only=True) as con:
        sources = con.execute(
            "SELECT source, count(*) FROM events GROUP BY ALL ORDER BY 1"
        ).fetchall()
        guard = con.execute(f"SELECT writes FROM {WRITE_GUARD}").fetchall()
    assert sources == [("first", 100), ("second", 50)]
    assert guard == [(3,)]  # create table, first, second (its lost attempt rolled back)


def test_commit_with_retry_gives_up_after_its_attempts(tmp_path: Path) -> None:
    config = LakeConfig.embedded(tmp_path)
    create_events(config)
    first, second = open_lake(config), open_lake(config)
    calls: list[int] = []

    def always_loses(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute(MERGE, ["second", 0, 10])
        commit_with_retry(first, merge("first", len(calls) * 10, len(calls) * 10 + 10))

    with pytest.raises(WarehouseError, match="lost to concurrent writers 3 times"):
        commit_with_retry(second, always_loses, attempts=3, first_delay=0.01)
    assert len(calls) == 3
    assert counts(config) == (30, 30)  # only the winners' rows


def test_commit_with_retry_raises_other_errors_at_once(tmp_path: Path) -> None:
    config = LakeConfig.embedded(tmp_path)
    create_events(config)
    calls: list[int] = []

    def broken(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("INSERT INTO events VALUES (1, 'a', 'b')")
        con.execute("INSERT INTO no_such_table VALUES (1)")

    with open_lake(config) as con:
        with pytest.raises(duckdb.CatalogException):
            commit_with_retry(con, broken)
        assert calls == [1]
        commit_with_retry(con, lambda c: c.execute("INSERT INTO events VALUES (2, 'a', 'b')"))
    assert counts(config) == (1, 1)  # the failed transaction was rolled back


# -- separate processes --------------------------------------------------------------------


@pytest.mark.slow
def test_a_reader_sees_each_commit_while_a_writer_streams_batches(lake: LakeConfig) -> None:
    create_events(lake)
    reader = start("reader", lake, BATCHES * BATCH_ROWS)
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"  # its session is open from here on
    writer = start("writer", lake, BATCHES, BATCH_ROWS)
    written, read = result(writer), result(reader)

    commits, polls = written["commits"], read["polls"]
    commit_seconds = [seconds for _began, _done, seconds in commits]
    seen = [rows for _began, _ended, rows, _seconds in polls]
    query_seconds = [seconds for _began, _ended, _rows, seconds in polls]
    assert len(commits) == BATCHES
    assert max(commit_seconds) < MAX_WAIT, commit_seconds
    assert max(query_seconds) < MAX_WAIT, max(query_seconds)
    assert seen[-1] == BATCHES * BATCH_ROWS
    assert seen == sorted(seen)  # monotonic
    assert all(rows % BATCH_ROWS == 0 for rows in seen)  # whole batches only: one commit each
    for began, ended, rows, _seconds in polls:
        # every commit done before the query began is in its snapshot (the open session
        # is never stale), and nothing the writer had not yet started
        done_before = sum(1 for _b, done, _s in commits if done < began)
        started_before = sum(1 for b, _done, _s in commits if b <= ended)
        assert done_before * BATCH_ROWS <= rows <= started_before * BATCH_ROWS
    distinct = sorted(set(seen) - {0, BATCHES * BATCH_ROWS})
    assert len(distinct) >= 3, distinct  # it read while the load ran, not only after
    print(
        f"\n[{lake.kind}] commit per {BATCH_ROWS}-row batch: "
        f"p50 {_median(commit_seconds) * 1000:.0f} ms, max {max(commit_seconds) * 1000:.0f} ms; "
        f"reader query p50 {_median(query_seconds) * 1000:.1f} ms, "
        f"max {max(query_seconds) * 1000:.0f} ms over {len(seen)} polls, "
        f"{len(distinct)} of {BATCHES - 1} intermediate snapshots seen; "
        f"writer retries {written['retries']}"
    )


@pytest.mark.slow
def test_two_writers_merging_overlapping_keys_store_the_union(
    lake: LakeConfig, tmp_path: Path
) -> None:
    create_events(lake)
    go = tmp_path / "go"
    workers = [start("merger", lake, worker, BATCHES, BATCH_ROWS, go) for worker in (0, 1)]
    time.sleep(1.0)  # both open the lake, then start together
    go.touch()
    results = [result(worker) for worker in workers]

    union = BATCHES * BATCH_ROWS + BATCH_ROWS // 2
    assert counts(lake) == (union, union)
    retries = [r["retries"] for r in results]
    commit_seconds = [seconds for r in results for seconds in r["commits"]]
    messages = sorted({m for r in results for m in r["messages"]})
    print(
        f"\n[{lake.kind}] two writers, {BATCHES} overlapping MERGE batches each: "
        f"retries {retries}, commit p50 {_median(commit_seconds) * 1000:.0f} ms, "
        f"max {max(commit_seconds) * 1000:.0f} ms; conflicts: {messages[:3]}"
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
