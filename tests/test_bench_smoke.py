"""Benchmarks keep running (a benchmark that no longer runs is a bug): each one that needs
no network and finishes in seconds at a tiny scale runs here, on real components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_warehouse_bench_runs_end_to_end_at_a_tiny_scale() -> None:
    """The staged load, the snapshot and every analyst query of bench/warehouse (its staged
    batches follow the staging schema, so a new column cannot break it silently)."""
    done = subprocess.run(
        [sys.executable, "bench/warehouse/run.py", "--scale", "0.001", "--batches", "2",
         "--repeat", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "load: 1,000 articles" in done.stdout, done.stdout
    assert "p50 fts_query:" in done.stdout and "reproduce: python bench/warehouse" in done.stdout
