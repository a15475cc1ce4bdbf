"""An idle `newswatch watch` on its own Prefect server is one process holding no ingest stack
(issue 17: idle watch <= 250 MB in all; bench/watch/idle_memory.py measures it).

The real CLI, PREFECT_API_URL unset (the watch starts its own server, as a user's does), on
the bundled offline sample: after its first scheduled run it sleeps until the next slot
(the default 300 s interval). Then its process tree is the watch alone (and the
multiprocessing resource tracker of the runs' spawn starts): the Prefect server runs on a
thread of it (no `prefect server start` child), the run's subprocess and its extraction
workers are gone (no forkserver), and the watch process itself never loaded trafilatura,
lxml, DuckDB or numpy (each run imports them in its own subprocess). SIGTERM while idle
stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# shared libraries of the ingest stack, as they appear in /proc/PID/maps
INGEST_LIBRARIES = ("/lxml/", "/trafilatura/", "/_duckdb", "/numpy/", "/datasketch/")
TRACKER = "multiprocessing.resource_tracker"  # multiprocessing's, for the runs' semaphores


def _children(pid: int) -> list[int]:
    """Live children of ``pid``, from every thread's ``children`` list in /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # a thread that ended meanwhile
            continue
    return found


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(gone)"


@pytest.mark.slow
def test_idle_watch_on_its_own_server_is_one_process_without_the_ingest_stack(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        NEWSWATCH_HOME=str(tmp_path),
    )
    command = [sys.executable, "-m", "newswatch.cli", "watch", "--sample"]
    watch = subprocess.Popen(
        [*command, "--db", str(tmp_path / "watch.duckdb")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    give_up = threading.Timer(240, watch.kill)  # a watch that never reports a run
    give_up.start()
    try:
        assert watch.stdout is not None
        for line in watch.stdout:  # until the first run's line; then it sleeps
            lines.append(line)
            if line.startswith("run "):
                break
        give_up.cancel()
        assert lines and lines[-1].startswith("run "), "".join(lines)
        assert "53 new articles" in lines[-1], "".join(lines)
        assert "Starting a local Prefect server on http://127.0.0.1:" in "".join(lines)
        # the run's subprocess ends right after its state is reported; give it a moment
        children: dict[int, str] = {}
        for _ in range(40):
            children = {pid: _command(pid) for pid in _children(watch.pid)}
            children = {pid: c for pid, c in children.items() if TRACKER not in c}
            if not children:
                break
            time.sleep(0.5)
        assert children == {}, children  # no server process, no run, no worker
        maps = Path(f"/proc/{watch.pid}/maps").read_text()
        loaded = sorted({lib for lib in INGEST_LIBRARIES if lib in maps})
        assert loaded == [], loaded
        assert watch.poll() is None, "".join(lines)
    finally:
        give_up.cancel()
        watch.send_signal(signal.SIGTERM)
        try:
            rest, _ = watch.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            watch.kill()
            rest, _ = watch.communicate()
    output = "".join(lines) + rest
    assert watch.returncode == 0, output
    assert "newswatch watch stopped: 1 runs" in output, output
    assert "Traceback" not in output, output
