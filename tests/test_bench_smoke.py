"""Benchmarks keep running (a benchmark that no longer runs is a bug): each one that needs
no network and finishes in seconds at a tiny scale runs here, on real components."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow  # minutes on a loaded machine: the streaming loader runs till the reads end
def test_the_lake_bench_runs_both_warehouses_at_a_tiny_scale() -> None:
    """bench/warehouse/lake.py: the 500-article batch, the unchanged run and the reads
    during a streaming load, on the file warehouse and on the lake, with the bound table."""
    done = subprocess.run(
        [sys.executable, "bench/warehouse/lake.py", "--scale", "0.001", "--batches", "2",
         "--repeat", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "## file: searchable after (a): True" in out, out
    assert "## lake: searchable after (a): True" in out, out
    assert "| (a) load + commit + searchable (s) |" in out and "lake/file" in out, out
    assert "reproduce: python bench/warehouse/lake.py --scale 0.001" in out, out
