"""CLI start-up (issue 17): `newswatch sql "select 1"` against DuckDB alone, same machine, one run.

Builds a sample warehouse (and its snapshot) in a temporary directory, then runs each
command REPEAT times in a fresh process, interleaved (one of each per round, so a change of
load on a shared machine hits all three alike), and prints the medians, the ratios to
DuckDB alone and to a bare interpreter (``python -c pass``), and the goal (<= 0.4 s).

    .venv/bin/python bench/cli_startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The baseline: plain DuckDB in a separate `python -c` (never a project connection;
# tests/test_warehouse.py lets this file, and only it, name the module-level connect).
DUCKDB_ALONE = "import duckdb; duckdb.connect().sql('select 1').fetchall()"


GOAL_SECONDS = 0.4  # issue 17: the whole process


def medians(commands: list[list[str]], repeat: int, env: dict[str, str]) -> list[float]:
    """Median wall seconds of each command, run in rounds of one each."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for command, took in zip(commands, times, strict=True):
            start = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
            took.append(time.perf_counter() - start)
    return [statistics.median(took) for took in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    from newswatch.warehouse.sample import build_sample_db
    from newswatch.warehouse.snapshot import publish_snapshot

    work = Path(tempfile.mkdtemp(prefix="nw-startup-"))
    try:
        db = work / "newswatch.duckdb"
        build_sample_db(db)
        publish_snapshot(db)
        env = dict(os.environ, NEWSWATCH_HOME=str(work))
        script = shutil.which("newswatch", path=str(Path(sys.executable).parent))
        cli = [script] if script else [sys.executable, "-m", "newswatch.cli"]
        newswatch_cmd = [*cli, "sql", "select 1", "--db", str(db)]
        duckdb_cmd = [sys.executable, "-c", DUCKDB_ALONE]
        bare_cmd = [sys.executable, "-c", "pass"]
        commands = [newswatch_cmd, duckdb_cmd, bare_cmd]
        medians(commands, 1, env)  # one warm-up each (page cache, .pyc files), not counted
        ours, alone, bare = medians(commands, args.repeat, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"median of {args.repeat} runs each")
    print(f"  newswatch sql 'select 1'   {ours:.3f} s   ({' '.join(newswatch_cmd[:3])} ...)")
    print(f"  duckdb alone               {alone:.3f} s   (python -c {DUCKDB_ALONE!r})")
    print(f"  python -c pass             {bare:.3f} s")
    print(f"  ratio to duckdb alone      {ours / alone:.2f}x")
    print(f"  ratio to python -c pass    {ours / bare:.2f}x")
    verdict = "met" if ours <= GOAL_SECONDS else "missed"
    print(f"  goal <= {GOAL_SECONDS} s whole process: {verdict}")
    print(f"reproduce: {sys.executable} bench/cli_startup.py --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
