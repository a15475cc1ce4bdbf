"""Warehouse bench, lake against file: the issue-16 bounds measured in one run.

    python bench/warehouse/lake.py --scale 0.1   # 100 k articles / 1 M mentions
    python bench/warehouse/lake.py               # 1 M / 10 M (the bounds' scale)

The same generated warehouse (``run.py``'s generator: staged Parquet batches through the
real ``load_staged``) is built twice, as a DuckDB file (published to its snapshot with the
BM25 index rebuilt on the copy) and as a DuckLake with a SQLite catalog (its index file
beside it, ``warehouse/lake_search.py``); then on each, as a run does it (``load_staged``
then ``publish_snapshot``):

(a) a 500-article batch: load + commit seconds, then seconds until searchable (the index
    publish; a search for the batch's own title word finds it);
(b) an unchanged run: a batch of no articles (what a run whose feeds all answer 304
    stages) loaded, then a publish that finds nothing to do;
(c) ``trends`` (``entity_daily_series``, and weekly ``entity_series``) and
    ``search.search`` p50 read while a loader subprocess (``loader.py``) streams 500-article
    batches into the same warehouse: the lake read live with its index attached, the file
    through its snapshot.

Ratios are lake / file; bounds are the issue's Done-when figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402

from bench.warehouse.run import ENTITIES, START, entity_rows, generate_batch  # noqa: E402
from newswatch.core.settings import default_snapshot_path  # noqa: E402
from newswatch.warehouse import search  # noqa: E402
from newswatch.warehouse.db import connect  # noqa: E402
from newswatch.warehouse.lake import LakeConfig, search_index_path  # noqa: E402
from newswatch.warehouse.lake_search import attach_index, publish_lake_index  # noqa: E402
from newswatch.warehouse.load import load_entities, load_staged  # noqa: E402
from newswatch.warehouse.snapshot import publish_snapshot  # noqa: E402

BATCH = 500
BOUNDS = {  # the Done-when bounds
    "batch_total_s": 10.0,
    "unchanged_total_s": 1.0,
    "trends_daily_ms": 50.0,
    "search_ms": 200.0,
}
MODES = ("file", "lake")


@dataclass
class Figures:
    initial_load_s: float = 0.0
    first_publish_s: float = 0.0  # the full index build at N (every changed load, before)
    batch_load_s: float = 0.0
    batch_publish_s: float = 0.0
    batch_searchable: bool = False
    unchanged_load_s: float = 0.0
    unchanged_publish_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    stream: list[dict[str, float]] = field(default_factory=list)  # the loader's batches
    stream_during: int = 0  # loader batches ended while the queries ran
    loader_busy: bool = False  # the loader was still mid-stream when the queries ended
    batch_publish_note: str = ""  # the lake's index publish: mode, documents, file copy
    size_bytes: int = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1 M articles")
    parser.add_argument("--batches", type=int, default=10, help="staged batches of the base")
    parser.add_argument("--repeat", type=int, default=15, help="runs per latency figure")
    parser.add_argument("--modes", default="file,lake", help="file,lake (default) or one")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: a comma list of {', '.join(MODES)}")
    n_articles = max(int(1_000_000 * args.scale), args.batches * 100)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nw-bench-lake-"))
    try:
        run(workdir, n_articles, args, modes)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run(workdir: Path, n_articles: int, args: argparse.Namespace, modes: list[str]) -> None:
    print(
        f"# warehouse bench, lake vs file: {n_articles:,} articles, ~{n_articles * 10:,} "
        f"mentions, {args.batches} base batches, duckdb {duckdb.__version__}, "
        f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}"
    )
    source = workdir / "base"
    per_batch = n_articles // args.batches
    t0 = time.perf_counter()
    for b in range(args.batches):
        generate_batch(source, b, b * per_batch, per_batch, n_articles)
    print(f"generate staged Parquet: {time.perf_counter() - t0:.1f} s")
    results: dict[str, Figures] = {}
    for mode in modes:
        folder = workdir / mode
        db = folder / ("newswatch.duckdb" if mode == "file" else "newswatch.lake.sqlite")
        results[mode] = measure(mode, db, folder / "staging", source, n_articles, args)
        print_mode(mode, results[mode])
    print_table(results)
    print(
        f"reproduce: python bench/warehouse/lake.py --scale {args.scale:g} "
        f"--batches {args.batches} --repeat {args.repeat}"
        + (f" --modes {args.modes}" if args.modes != "file,lake" else "")
    )


def measure(
    mode: str, db: Path, staging: Path, source: Path, n: int, args: argparse.Namespace
) -> Figures:
    fig = Figures()
    with connect(db) as con:
        load_entities(con, entity_rows(), version="bench")
    shutil.copytree(source, staging)
    t0 = time.perf_counter()
    report = load_staged(db, staging)
    fig.initial_load_s = time.perf_counter() - t0
    assert report.batches_loaded == args.batches, report.message
    t0 = time.perf_counter()
    publish_snapshot(db)
    fig.first_publish_s = time.perf_counter() - t0

    # (a) one 500-article batch, then until searchable
    index = args.batches
    generate_batch(staging, index, n, BATCH, n)
    t0 = time.perf_counter()
    report = load_staged(db, staging)
    fig.batch_load_s = time.perf_counter() - t0
    assert report.articles_added == BATCH, report.message
    t0 = time.perf_counter()
    if mode == "lake":  # what publish_snapshot does on a lake, with the report kept
        done = publish_lake_index(db, search_index_path(db))
        fig.batch_publish_note = (
            f"{done.mode}, {done.changed} documents indexed, {done.articles:,} in the index, "
            f"of which copying the index file {done.copy_seconds:.2f} s "
            f"({search_index_path(db).stat().st_size / 1e6:,.0f} MB)"
        )
    else:
        publish_snapshot(db)
    fig.batch_publish_s = time.perf_counter() - t0
    with reader(mode, db) as con:
        hits = search.search(con, str(n), limit=5)
        fig.batch_searchable = any((h.title or "").endswith(f"title {n}") for h in hits)

    # (b) an unchanged run: a batch of no articles, then a publish with nothing to do
    generate_batch(staging, index + 1, n + BATCH, 0, n)
    t0 = time.perf_counter()
    report = load_staged(db, staging)
    fig.unchanged_load_s = time.perf_counter() - t0
    assert report.batches_loaded == 1 and report.articles_added == 0, report.message
    t0 = time.perf_counter()
    publish_snapshot(db)
    fig.unchanged_publish_s = time.perf_counter() - t0
    fig.size_bytes = warehouse_bytes(mode, db)

    # (c) reads while a loader streams batches into the same warehouse
    errors = (staging.parent / "loader.stderr").open("w")
    loader = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("loader.py")), "--db", str(db),
         "--staging", str(staging), "--first", str(n + 2 * BATCH), "--total", str(n),
         "--index", str(index + 2), "--size", str(BATCH)],
        stdout=subprocess.PIPE, stderr=errors, text=True,
    )  # fmt: skip
    try:
        assert loader.stdout is not None
        first = loader.stdout.readline()  # the loader is past its start-up: mid-stream now
        if not first:
            errors.close()
            raise RuntimeError("the loader stopped: " + errors.name)
        started = time.time()
        with reader(mode, db) as con:
            fig.latencies = measure_queries(con, args.repeat)
        ended = time.time()
        fig.loader_busy = loader.poll() is None
    finally:
        loader.terminate()  # mid-batch: its traceback goes to loader.stderr
        try:
            rest, _ = loader.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # inside a long DuckDB call: SIGTERM waits for it
            loader.kill()  # (a fresh-clone CI run waited 14 min here)
            rest, _ = loader.communicate()
        errors.close()
    lines = [json.loads(x) for x in [first, *rest.splitlines()] if x.strip().startswith("{")]
    fig.stream = lines
    fig.stream_during = sum(1 for x in lines if started <= x["ended"] <= ended)
    return fig


class reader:
    """A reader as the analyst commands open one: the lake live with its index attached,
    the file warehouse through its snapshot."""

    def __init__(self, mode: str, db: Path) -> None:
        self.mode, self.db = mode, db

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        path = self.db if self.mode == "lake" else default_snapshot_path(self.db)
        self.con = connect(path, read_only=True)
        search.load_extension(self.con)
        if self.mode == "lake":
            attach_index(self.con, search_index_path(self.db))
        return self.con

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def measure_queries(con: duckdb.DuckDBPyConnection, repeat: int) -> dict[str, list[float]]:
    cases: dict[str, Callable[[int], object]] = {
        "trends_daily": lambda r: con.execute(
            "SELECT * FROM entity_daily_series($e, $since)",
            {"e": f"e{(r * 13) % ENTITIES:03d}", "since": START},
        ).fetchall(),
        "trends_weekly": lambda r: con.execute(
            "SELECT * FROM entity_series($e, 'week', $since)",
            {"e": f"e{(r * 13) % ENTITIES:03d}", "since": START},
        ).fetchall(),
        "search": lambda r: search.search(con, f"w{(r * 37) % 5000} w{(r * 91) % 5000}", limit=20),
        "search_phrase": lambda r: search.search(
            con, f'"entity {(r * 7) % ENTITIES}" w{(r * 53) % 5000}', limit=20
        ),
    }
    results: dict[str, list[float]] = {}
    for name, query in cases.items():
        query(repeat)  # warm-up
        times = []
        for r in range(repeat):
            t0 = time.perf_counter()
            query(r)
            times.append(time.perf_counter() - t0)
        results[name] = times
    return results


def warehouse_bytes(mode: str, db: Path) -> int:
    if mode == "file":
        return db.stat().st_size + default_snapshot_path(db).stat().st_size
    data = Path(LakeConfig.for_path(db).data_path)
    files = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
    return search_index_path(db).stat().st_size + db.stat().st_size + files


def p50_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def rows(fig: Figures) -> dict[str, float]:
    stream_total = [x["load_s"] + x["publish_s"] for x in fig.stream]
    return {
        "initial_load_s": fig.initial_load_s,
        "first_publish_s": fig.first_publish_s,
        "batch_load_s": fig.batch_load_s,
        "batch_publish_s": fig.batch_publish_s,
        "batch_total_s": fig.batch_load_s + fig.batch_publish_s,
        "unchanged_load_s": fig.unchanged_load_s,
        "unchanged_publish_s": fig.unchanged_publish_s,
        "unchanged_total_s": fig.unchanged_load_s + fig.unchanged_publish_s,
        **{f"{name}_ms": p50_ms(values) for name, values in fig.latencies.items()},
        "stream_batch_p50_s": statistics.median(stream_total) if stream_total else float("nan"),
    }


LABELS = {
    "initial_load_s": "base load, all batches (s)",
    "first_publish_s": "first publish: full BM25 build at N (s)",
    "batch_load_s": "(a) 500-article batch: load + commit (s)",
    "batch_publish_s": "(a) then until searchable: index publish (s)",
    "batch_total_s": "(a) load + commit + searchable (s)",
    "unchanged_load_s": "(b) unchanged run: empty batch load (s)",
    "unchanged_publish_s": "(b) unchanged run: publish (s)",
    "unchanged_total_s": "(b) unchanged run: warehouse work (s)",
    "trends_daily_ms": "(c) p50 trends, entity_daily_series, during a load (ms)",
    "trends_weekly_ms": "(c) p50 trends, weekly entity_series, during a load (ms)",
    "search_ms": "(c) p50 search.search, 2 words, during a load (ms)",
    "search_phrase_ms": "(c) p50 search.search, phrase + word, during a load (ms)",
    "stream_batch_p50_s": "(c) the loader's 500-article batches: load + publish p50 (s)",
}


def print_mode(mode: str, fig: Figures) -> None:
    figures = rows(fig)
    print(
        f"## {mode}: searchable after (a): {fig.batch_searchable}; "
        f"size {fig.size_bytes / 1e6:,.0f} MB"
    )
    print(
        f"## {mode}: loader batches during the queries: {fig.stream_during} "
        f"(of {len(fig.stream)} streamed); still loading when they ended: {fig.loader_busy}"
    )
    if fig.batch_publish_note:
        print(f"## {mode}: (a) index publish: {fig.batch_publish_note}")
    for key, value in figures.items():
        print(f"{mode} {key}: {value:.3f}")


def print_table(results: dict[str, Figures]) -> None:
    figures = {mode: rows(fig) for mode, fig in results.items()}
    modes = list(figures)
    print()
    print(
        "| figure | "
        + " | ".join(modes)
        + (" | lake/file" if len(modes) == 2 else "")
        + " | bound |"
    )
    print("|---|" + "---|" * len(modes) + ("---|" if len(modes) == 2 else "") + "---|")
    for key, label in LABELS.items():
        cells = [
            f"{figures[m][key]:,.3f}" if key.endswith("_s") else f"{figures[m][key]:,.1f}"
            for m in modes
        ]
        ratio = ""
        if len(modes) == 2:
            file_v, lake_v = figures["file"][key], figures["lake"][key]
            ratio = f" | {lake_v / file_v:.3f}x" if file_v else " | -"
        bound = BOUNDS.get(key)
        verdict = ""
        if bound is not None and "lake" in figures:
            met = figures["lake"][key] <= bound
            verdict = f"≤ {bound:g}: lake {'met' if met else 'MISSED'}"
        print(f"| {label} | " + " | ".join(cells) + ratio + f" | {verdict} |")


if __name__ == "__main__":
    sys.exit(main())
