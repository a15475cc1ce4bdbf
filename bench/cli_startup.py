"""CLI start-up (issue 17): `newswatch sql "select 1"` against DuckDB alone, same machine, one run.

Builds a sample warehouse (and its snapshot) in a temporary directory, then runs each
command REPEAT times in a fresh process and prints the medians and their ratio.

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


def median_seconds(command: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
        # one warm-up each (page cache, .pyc files), not counted
        subprocess.run(newswatch_cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(duckdb_cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        ours = median_seconds(newswatch_cmd, args.repeat, env)
        alone = median_seconds(duckdb_cmd, args.repeat, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"median of {args.repeat} runs each")
    print(f"  newswatch sql 'select 1'   {ours:.3f} s   ({' '.join(newswatch_cmd[:3])} ...)")
    print(f"  duckdb alone               {alone:.3f} s   (python -c {DUCKDB_ALONE!r})")
    print(f"  ratio                      {ours / alone:.2f}x")
    print(f"reproduce: {sys.executable} bench/cli_startup.py --repeat {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
