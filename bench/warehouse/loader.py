"""The loader ``bench/warehouse/lake.py`` runs beside its readers: a stream of generated
batches, each staged, loaded and published as a run would (``load_staged`` then
``publish_snapshot``, which on a lake only brings its index up to date), one JSON line per
batch on stdout, until it is terminated or ``--batches`` are done.

    python bench/warehouse/loader.py --db X --staging DIR --first N --total N --index I
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.warehouse.run import generate_batch  # noqa: E402
from newswatch.warehouse.load import load_staged  # noqa: E402
from newswatch.warehouse.snapshot import publish_snapshot  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--staging", type=Path, required=True)
    parser.add_argument("--first", type=int, required=True, help="first article number")
    parser.add_argument("--total", type=int, required=True, help="the warehouse's scale")
    parser.add_argument("--index", type=int, required=True, help="first batch number")
    parser.add_argument("--size", type=int, default=500, help="articles per batch")
    parser.add_argument("--batches", type=int, default=1000)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for b in range(args.batches):
        generate_batch(
            args.staging, args.index + b, args.first + b * args.size, args.size, args.total
        )
        started = time.perf_counter()
        report = load_staged(args.db, args.staging)
        loaded = time.perf_counter()
        publish_snapshot(args.db)
        published = time.perf_counter()
        line = {
            "batch": b,
            "articles_added": report.articles_added,
            "load_s": loaded - started,
            "publish_s": published - loaded,
            "ended": time.time(),
        }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
