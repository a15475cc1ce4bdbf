"""Cases 18, 34, 38, 41 end to end: a real ``newswatch run`` in a subprocess meets a held
database, a full disk while staging, dead sources and a Prefect API that is gone.

After every fault the next ordinary run must store exactly what a clean run stores.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from newswatch.warehouse.staging import staged_batches
from tests.localserver import Route, routes_handler, serve
from tests.reliability.conftest import CleanRun
from tests.reliability.harness import (
    alert_deliveries,
    fingerprint,
    free_port,
    prefect_server,
    run_ingest,
    start_ingest,
    wait_for_point,
)
from tests.reliability.harness import finish as finish_run

pytestmark = pytest.mark.slow

LOCK_WAIT = "3"  # NEWSWATCH_DB_LOCK_WAIT for the held run: the load's patience, in seconds
HOLD_SECONDS = 20  # longer than the held run's whole lock budget (reads + load)


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def assert_converged(workdir: Path, clean: CleanRun) -> None:
    stored = fingerprint(workdir / "news.duckdb")
    assert stored.rows == clean.fingerprint.rows
    assert stored.hashes == clean.fingerprint.hashes
    assert stored.duplicate_articles == 0 and stored.duplicate_alert_keys == 0
    deliveries = alert_deliveries(workdir / "alerts.jsonl")
    assert set(deliveries) == clean.alert_ids
    assert max(deliveries.values()) == 1
    assert staged_batches(workdir / "staging") == []


def test_a_held_database_leaves_the_batch_staged_and_the_next_run_loads_it(
    run_env: dict[str, str], sites_sources: Path, clean_run: CleanRun, tmp_path: Path
) -> None:
    workdir = tmp_path / "locked"
    go = tmp_path / "go"  # the run waits before staging until the holder has the file
    started = time.monotonic()
    run = start_ingest(
        workdir,
        sites_sources,
        dict(run_env, NEWSWATCH_PAUSE_AT=f"stage-write:{go}", NEWSWATCH_DB_LOCK_WAIT=LOCK_WAIT),
    )
    wait_for_point(workdir, "stage-write", run, timeout=240)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(float(sys.argv[2]))",
            str(workdir / "news.duckdb"),
            str(HOLD_SECONDS),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        go.touch()
        held = finish_run(run, workdir, started, timeout=300)
    finally:
        holder.kill()
        holder.wait()

    assert held.returncode == 75, held.stderr  # EX_TEMPFAIL: staged, not loaded
    assert f"PID {holder.pid}" in held.stdout
    assert "left staged" in held.stdout
    assert len(staged_batches(workdir / "staging")) == 1

    after = run_ingest(workdir, sites_sources, run_env)
    assert after.returncode == 0, after.stderr
    assert_converged(workdir, clean_run)


def test_disk_full_while_staging_writes_nothing_and_the_next_run_loads_everything(
    run_env: dict[str, str], sites_sources: Path, clean_run: CleanRun, tmp_path: Path
) -> None:
    workdir = tmp_path / "enospc"
    full = run_ingest(
        workdir, sites_sources, dict(run_env, NEWSWATCH_FAIL_AT="stage-write:3:ENOSPC")
    )
    assert full.returncode == 1
    assert "could not stage run" in full.stderr and "No space left on device" in full.stderr
    assert "load" not in full.points()  # the database was never opened for writing
    assert file_digest(workdir / "news.duckdb") is None
    assert staged_batches(workdir / "staging") == []
    assert not list((workdir / "staging").glob(".tmp-*"))  # the partial batch is removed

    after = run_ingest(workdir, sites_sources, run_env)
    assert after.returncode == 0, after.stderr
    assert_converged(workdir, clean_run)


def test_every_source_down_completes_says_so_and_exits_degraded(
    run_env: dict[str, str], tmp_path: Path
) -> None:
    dead_port = free_port()
    routes = {"/feed.xml": Route(503, b"down", {"Retry-After": "1"})}
    with serve(routes_handler(routes)) as base:
        sources = tmp_path / "sources.toml"
        sources.write_text(
            "".join(
                f'[[source]]\nid = "{sid}"\nname = "{sid}"\nurl = "{url}"\n\n'
                for sid, url in [
                    ("refused", f"http://127.0.0.1:{dead_port}/feed.xml"),
                    ("nxdomain", "http://newswatch-no-such-host.invalid/feed.xml"),
                    ("unavailable", f"{base}/feed.xml"),
                ]
            ),
            encoding="utf-8",
        )
        result = run_ingest(tmp_path / "down", sources, run_env)

    assert result.returncode == 69, result.stderr  # EX_UNAVAILABLE
    assert "sources reachable 0/3" in result.stdout
    assert "refused: connection failed" in result.stdout
    assert "nxdomain: DNS lookup failed" in result.stdout
    assert "unavailable: HTTP 503" in result.stdout
    assert not (tmp_path / "down" / "alerts.jsonl").exists()  # no alert storm
    with duckdb.connect(str(tmp_path / "down" / "news.duckdb"), read_only=True) as con:
        row = con.execute("SELECT feeds_polled, feeds_failed FROM runs").fetchone()
        states = con.execute("SELECT count(*) FROM feed_state WHERE last_error IS NOT NULL")
        assert row == (3, 3)
        assert states.fetchone() == (3,)


def test_unreachable_prefect_api_is_one_clear_line_and_nothing_is_written(
    run_env: dict[str, str], sites_sources: Path, tmp_path: Path
) -> None:
    dead = dict(run_env, PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api")
    result = run_ingest(tmp_path / "noapi", sites_sources, dead)
    assert result.returncode == 1
    assert "Failed to reach API" in result.stderr
    assert "Traceback" not in result.stderr
    assert "poll" not in result.points()
    assert not (tmp_path / "noapi" / "news.duckdb").exists()


def test_prefect_api_lost_mid_run_is_reported_and_the_next_run_converges(
    run_env: dict[str, str],
    sites_sources: Path,
    clean_run: CleanRun,
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "api-lost"
    home = tmp_path / "own-server"
    home.mkdir()
    with prefect_server(home) as api_url:
        env = dict(run_env, PREFECT_API_URL=api_url, PREFECT_CLIENT_MAX_RETRIES="1")
        started = time.monotonic()
        run = start_ingest(workdir, sites_sources, env)
        wait_for_point(workdir, "fetch", run, timeout=240)
    # the server is gone from here on
    lost = finish_run(run, workdir, started, timeout=400)
    assert lost.returncode == 1, lost.stderr
    assert "lost the Prefect API during the run" in lost.stderr

    after = run_ingest(workdir, sites_sources, run_env)
    assert after.returncode == 0, after.stderr
    stored = fingerprint(workdir / "news.duckdb")
    assert stored.hashes == clean_run.fingerprint.hashes
    assert set(alert_deliveries(workdir / "alerts.jsonl")) == clean_run.alert_ids
