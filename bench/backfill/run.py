"""Backfill extraction throughput: in-process vs a Dask LocalCluster (prefect-dask).

The same pages (the corpus' AEB article pages, repeated) are extracted by:
  1. ``stages.extract`` in one process (``extract_workers=1``),
  2. ``stages.extract`` with the ingest's process pool (``extract_workers=2``),
  3. the backfill flow's ``extract_on_runner`` (one Prefect task per 25-page chunk) on a
     warm 2-worker Dask LocalCluster through ``DaskTaskRunner(address=...)``,
  4. the same chunks with ``distributed.Client.map`` and no Prefect (the task-run cost).
Cluster start-up is timed apart. Every result list must equal the in-process one.

Reproduce:  PREFECT_HOME=/tmp/prefect-bench PREFECT_SERVER_ANALYTICS_ENABLED=false \\
            python -m bench.backfill.run [--repeat 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

# before Prefect is imported: its ephemeral server needs long to start on a busy 2-core box
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# `python bench/backfill/run.py` as well as `python -m bench.backfill.run`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.extract.corpus import aeb_pages
from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.core.settings import Settings
from newswatch.extractors.batch import chunks
from newswatch.flows import stages
from newswatch.flows.backfill import CHUNK_PAGES, extract_on_runner

COMMAND = (
    "PREFECT_HOME=/tmp/prefect-bench PREFECT_SERVER_ANALYTICS_ENABLED=false "
    "python -m bench.backfill.run"
)


def corpus_batch(repeat: int) -> tuple[list[PageFetch], list[FeedEntry]]:
    now = datetime.now(UTC)
    pages: list[PageFetch] = []
    entries: list[FeedEntry] = []
    for round_ in range(repeat):
        for page in aeb_pages():
            url = f"{page.url}#copy{round_}" if round_ else page.url
            pages.append(PageFetch(url, now, "ok", url, 200, "text/html", page.body))
            entries.append(FeedEntry("aeb", url, url, "", "", now, date_flag="missing"))
    return pages, entries


def chunk_on_worker(
    pages: list[PageFetch], entries: list[FeedEntry], settings: Settings
) -> list[ExtractedArticle]:
    return stages.extract(pages, entries, replace(settings, extract_workers=1))


def timed(label: str, func, count: int, rows: list[tuple[str, float]]):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - started
    rows.append((label, count / seconds))
    print(f"  {label:<44} {seconds:7.2f} s  {count / seconds:7.1f} pages/s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=2, help="copies of the 91 AEB pages")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers / pool size")
    args = parser.parse_args()
    # page bodies travel with the tasks on purpose: that transfer is part of the measurement
    warnings.filterwarnings("ignore", message="Sending large graph")

    from distributed import Client, LocalCluster
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    pages, entries = corpus_batch(args.repeat)
    n = len(pages)
    single = Settings(extract_workers=1)
    pooled = Settings(extract_workers=args.workers)
    rows: list[tuple[str, float]] = []
    print(f"{n} pages ({args.repeat} x 91 AEB pages), {os.cpu_count()} cores, "
          f"{args.workers} workers, chunks of {CHUNK_PAGES}")  # fmt: skip
    baseline = timed(
        "in-process, 1 process", lambda: stages.extract(pages, entries, single), n, rows
    )
    pool = timed(
        f"in-process pool, {args.workers} processes",
        lambda: stages.extract(pages, entries, pooled),
        n,
        rows,
    )

    logging.getLogger("distributed").setLevel(logging.WARNING)
    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    startup = time.perf_counter() - started
    print(f"  {'Dask LocalCluster start-up':<44} {startup:7.2f} s")

    @flow(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
    def extract_on_dask(count: int) -> list[ExtractedArticle]:
        return extract_on_runner(pages[:count], entries[:count], single)

    # warm-up: every worker imports the extractors and Prefect before anything is timed
    client.run(lambda: __import__("newswatch.flows.backfill") and None)
    extract_on_dask(CHUNK_PAGES * args.workers * 2)
    on_dask = timed(
        f"Dask + Prefect tasks, {args.workers} workers", lambda: extract_on_dask(n), n, rows
    )

    def client_map() -> list[ExtractedArticle]:
        futures = client.map(
            chunk_on_worker,
            list(chunks(pages, CHUNK_PAGES)),
            list(chunks(entries, CHUNK_PAGES)),
            settings=single,
            pure=False,
        )
        return [article for chunk in client.gather(futures) for article in chunk]

    plain = timed(f"Dask client.map (no Prefect), {args.workers} workers", client_map, n, rows)
    client.shutdown()  # scheduler and workers together: no heartbeat to a closed scheduler
    cluster.close()

    assert pool == baseline and on_dask == baseline and plain == baseline, "results differ"
    base_rate = rows[0][1]
    print("\nratios to in-process (1 process), same run:")
    for label, rate in rows:
        print(f"  {label:<44} x{rate / base_rate:.2f}")
    print(f"\nreproduce: {COMMAND}")


if __name__ == "__main__":
    main()
