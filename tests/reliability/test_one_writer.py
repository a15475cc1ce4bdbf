"""Item 10: one writer per warehouse. While a ``watch`` run (a flow-run process the watch's
Prefect runner spawned) holds the writer lock, a ``newswatch run`` on the same warehouse
exits 75 naming the holder, and a deployment-style direct call of the ingest flow fails the
same way; once the watch's run ends, a run works."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newswatch.core.settings import REPO_ROOT
from tests.reliability.harness import read_trace

pytestmark = pytest.mark.slow

DIRECT_FLOW = """
import sys
from newswatch.flows.ingest import ingest
ingest(sources=sys.argv[1], db=sys.argv[2], allow_private=["127.0.0.1"])
"""


def cli(workdir: Path, sources: Path, *argv: str) -> list[str]:
    db = str(workdir / "news.duckdb")
    return [sys.executable, "-m", "tests.reliability.crashable", *argv, "--sources",
            str(sources), "--db", db, "--allow-private", "127.0.0.1"]  # fmt: skip


def ancestors(pid: int) -> list[int]:
    """The parent, grandparent, ... of a live process."""
    found = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        found.append(pid)
    return found


def test_watch_and_run_exclude_each_other_and_deployments_respect_it(
    run_env: dict[str, str], sites_sources: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    watch_env = dict(
        run_env, NEWSWATCH_CRASH_TRACE=str(tmp_path / "trace.txt"), NEWSWATCH_PAUSE_AT=f"poll:{go}"
    )
    with (tmp_path / "watch.txt").open("wb") as out:
        watch = subprocess.Popen(
            cli(tmp_path, sites_sources, "watch", "--max-runs", "1"),
            env=watch_env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not any(p == "poll" for p, _, _ in read_trace(tmp_path / "trace.txt")):
            assert watch.poll() is None, (tmp_path / "watch.txt").read_text()
            assert time.monotonic() < deadline, "the watch's first run never started"
            time.sleep(0.2)
        # the watch's run is inside the flow, holding the lock, paused before polling
        run = subprocess.run(
            cli(tmp_path, sites_sources, "run", "--quiet"),
            env=run_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 75, run.stdout + run.stderr
        holder = re.search(r"is being written by ingest flow run \(PID (\d+)", run.stderr)
        assert holder, run.stderr
        assert watch.pid in ancestors(int(holder.group(1))), run.stderr  # the watch's run
        direct = subprocess.run(
            [sys.executable, "-c", DIRECT_FLOW, str(sites_sources), str(tmp_path / "news.duckdb")],
            env=dict(run_env, NEWSWATCH_WRITER_LOCK_WAIT="1"),
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert direct.returncode != 0
        assert f"is being written by ingest flow run (PID {holder.group(1)}" in direct.stderr
        assert "waited 1 s" in direct.stderr
    finally:
        go.write_text("go")
        code = watch.wait(timeout=300)
    assert code == 0, (tmp_path / "watch.txt").read_text()
    assert "1 runs" in (tmp_path / "watch.txt").read_text()
    after = subprocess.run(
        cli(tmp_path, sites_sources, "run", "--quiet"),
        env=run_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert after.returncode == 0, after.stdout + after.stderr
