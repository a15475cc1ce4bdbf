"""The writer lock: one writer per data directory, re-entrant in a process, names its
holder, and is freed by the kernel when the holder dies (even by kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newswatch.core.errors import WarehouseLocked
from newswatch.core.settings import REPO_ROOT
from newswatch.warehouse.writer_lock import held_here, holder, writer_lock

HOLD = """
import sys, time
from pathlib import Path
from newswatch.warehouse.writer_lock import writer_lock
with writer_lock(Path(sys.argv[1]), "test holder"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(600)
"""


def hold_in_another_process(data_dir: Path) -> subprocess.Popen[bytes]:
    ready = data_dir / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir), str(ready)],
        cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_re_entrant_in_one_process(tmp_path: Path) -> None:
    with writer_lock(tmp_path, "outer"):
        with writer_lock(tmp_path, "inner"):  # would deadlock on a second flock
            assert held_here(tmp_path)
        assert held_here(tmp_path)
    assert not held_here(tmp_path)
    assert holder(tmp_path) is None


def test_another_process_is_refused_with_the_holder_named_until_it_dies(
    tmp_path: Path,
) -> None:
    proc = hold_in_another_process(tmp_path)
    try:
        assert f"test holder (PID {proc.pid}" in (holder(tmp_path) or "")
        with (
            pytest.raises(WarehouseLocked) as refused,
            writer_lock(tmp_path, "newswatch run", wait=0.5),
        ):
            pass
        message = str(refused.value)
        assert f"test holder (PID {proc.pid}" in message
        assert "this newswatch run did nothing" in message and "waited 0.5 s" in message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with writer_lock(tmp_path, "after the kill", wait=5):  # the kernel freed it
        assert held_here(tmp_path)


def test_a_waiting_writer_gets_the_lock_when_the_holder_ends(tmp_path: Path) -> None:
    proc = hold_in_another_process(tmp_path)
    killer = subprocess.Popen(["sh", "-c", f"sleep 1; kill {proc.pid}"])
    try:
        with writer_lock(tmp_path, "patient", wait=60):
            assert proc.poll() is not None
    finally:
        killer.wait()
        proc.kill()
        proc.wait()
