"""Throughput of the real ``newswatch run`` against bare trafilatura on the same page bytes.

    PREFECT_SERVER_ANALYTICS_ENABLED=false .venv/bin/python -m bench.pipeline.run \\
        [--pages 1000] [--feeds 100] [--hosts 8]

One run, on this machine:

1. ``--pages`` corpus pages (../shared/corpus/articles, AEB and Fundus, cycled; each copy
   gets its own HTML comment so no two bodies are the same bytes) behind ``--feeds`` RSS
   feeds, served by ``bench/pipeline/server.py`` on 127.0.0.1 … 127.0.0.<hosts>.
2. Bare ``trafilatura.extract`` over the same bytes in one process, then in one process
   per available core (fork, the bytes inherited).
3. ``newswatch run --force`` as a subprocess (its own PREFECT_HOME, NEWSWATCH_HOME and
   warehouse, an empty alert file): wall time, pages/s, the ratio to (cores x bare 1-core
   pages/s), peak RSS of its process tree (sampled every 50 ms: the CLI, Prefect's
   server, the extraction workers) and the stage breakdown the run recorded.
4. The same command again with nothing changed (every feed answers 304): whole process
   and flow start to flow end (the run's own started_at/finished_at).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import psutil
import trafilatura

from bench.extract.corpus import aeb_pages, fundus_pages
from bench.pipeline.server import Site, serve

_BODIES: list[bytes] = []  # inherited by the forked bare-trafilatura workers


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


def corpus_site(pages: int, feeds: int, hosts: int) -> Site:
    corpus = [p for p in [*aeb_pages(), *fundus_pages()] if p.body]
    bodies, titles = [], []
    for k in range(pages):
        page = corpus[k % len(corpus)]
        bodies.append(page.body + f"\n<!-- bench copy {k} -->\n".encode())
        titles.append(page.truth_title or f"Corpus page {page.key}")
    return Site(bodies, titles, feeds, hosts)


def _extract(index: int) -> int:
    return len(trafilatura.extract(_BODIES[index]) or "")


def bare_seconds(bodies: list[bytes], processes: int) -> float:
    _BODIES[:] = bodies
    started = time.perf_counter()
    if processes == 1:
        for index in range(len(bodies)):
            _extract(index)
    else:
        with ProcessPoolExecutor(processes, mp_context=get_context("fork")) as pool:
            list(pool.map(_extract, range(len(bodies)), chunksize=4))
    return time.perf_counter() - started


@dataclass
class Measured:
    started: datetime  # UTC, just before the process was started
    seconds: float
    peak_rss: int  # summed RSS of the tree (counts pages shared between processes twice)
    peak_pss: int  # summed PSS (shared pages split between their processes)
    at_peak: list[tuple[str, int]]  # (process, PSS) when the PSS sum peaked
    output: str
    returncode: int


def _label(process: psutil.Process) -> str:
    with suppress(psutil.Error):
        line = " ".join(process.cmdline())
        if "forkserver" in line:  # the server, or a worker it forked (same command line)
            parent = process.parent()
            forked = parent is not None and "forkserver" in " ".join(parent.cmdline())
            return "extraction worker" if forked else "forkserver"
        for marker, name in (
            ("resource_tracker", "resource tracker"),
            ("prefect", "Prefect server"),
            ("multiprocessing", "extraction worker"),  # forked from the CLI
            ("newswatch", "newswatch CLI"),
        ):
            if marker in line:
                return name
        return process.name()
    return "?"


def run_measured(command: list[str], env: dict[str, str]) -> Measured:
    """Run ``command``; its wall time and the peak memory of its process tree."""
    wall_start = datetime.now(UTC)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak_rss = peak_pss = 0
    at_peak: list[tuple[str, int]] = []
    root = psutil.Process(process.pid)
    done = threading.Event()
    output: list[str] = []
    stdout = process.stdout
    assert stdout is not None

    def read() -> None:
        output.append(stdout.read())
        done.set()

    threading.Thread(target=read, daemon=True).start()
    while process.poll() is None:
        rss = pss = 0
        members: list[tuple[str, int]] = []
        with suppress(psutil.Error):
            for member in [root, *root.children(recursive=True)]:
                with suppress(psutil.Error):  # a worker may end between listing and reading
                    info = member.memory_full_info()
                    rss += info.rss
                    pss += info.pss
                    members.append((_label(member), info.pss))
        peak_rss = max(peak_rss, rss)
        if pss > peak_pss:
            peak_pss, at_peak = pss, members
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    done.wait(30)
    return Measured(
        wall_start, seconds, peak_rss, peak_pss, at_peak, "".join(output), process.returncode
    )


@dataclass
class FlowRun:
    start: datetime
    end: datetime
    tasks: list[tuple[str, datetime, datetime]]


def flow_runs(prefect_home: Path) -> list[FlowRun]:
    """The flow runs and their task runs, from the Prefect server's own database."""

    def utc(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    with closing(sqlite3.connect(prefect_home / "prefect.db")) as con:
        flows = con.execute(
            "SELECT id, start_time, end_time FROM flow_run ORDER BY start_time"
        ).fetchall()
        out = []
        for flow_id, start, end in flows:
            tasks = con.execute(
                "SELECT name, start_time, end_time FROM task_run WHERE flow_run_id = ? "
                "ORDER BY start_time",
                [flow_id],
            ).fetchall()
            out.append(
                FlowRun(
                    utc(start),
                    utc(end),
                    [
                        (re.sub(r"-[0-9a-f]+$", "", n), utc(a), utc(b))
                        for n, a, b in tasks
                        if a and b
                    ],
                )
            )
    return out


def breakdown(measured: Measured, flow: FlowRun) -> str:
    """Where the whole process's wall time went: before the flow, each task, between tasks
    (Prefect's bookkeeping and the flow's own code), after the flow."""
    exit_at = measured.started + timedelta(seconds=measured.seconds)
    parts = [("start-up (imports, settings, Prefect server)", measured.started, flow.start)]
    parts += [(name, a, b) for name, a, b in flow.tasks]
    tasks = sum((b - a).total_seconds() for _, a, b in flow.tasks)
    between = (flow.end - flow.start).total_seconds() - tasks
    lines = [f"    {name:48} {(b - a).total_seconds():6.2f} s" for name, a, b in parts]
    lines.append(f"    {'in the flow between tasks':48} {between:6.2f} s")
    lines.append(
        f"    {'flow end to process exit':48} {(exit_at - flow.end).total_seconds():6.2f} s"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip bare trafilatura (a memory-only run)"
    )
    args = parser.parse_args()
    cores = available_cores()
    site = corpus_site(args.pages, args.feeds, args.hosts)
    megabytes = sum(map(len, site.pages)) / 1e6
    print("# bench/pipeline - reproduce: python -m bench.pipeline.run " + " ".join(sys.argv[1:]))
    print(f"{args.pages} pages ({megabytes:.0f} MB) behind {args.feeds} feeds; {cores} cores")

    one_rate = all_rate = float("nan")
    if not args.no_bare:
        bare_one = bare_seconds(list(site.pages), 1)
        bare_all = bare_seconds(list(site.pages), cores)
        one_rate, all_rate = args.pages / bare_one, args.pages / bare_all
        print(f"bare trafilatura, 1 process:  {one_rate:7.1f} pages/s ({bare_one:.1f} s)")
        print(f"bare trafilatura, {cores} processes: {all_rate:7.1f} pages/s ({bare_all:.1f} s)")
        _BODIES.clear()

    folder = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    newswatch = str(Path(sys.executable).with_name("newswatch"))
    db = folder / "bench.duckdb"  # the run's own (a fresh warehouse)
    alerts = folder / "alerts.toml"
    alerts.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "NEWSWATCH_HOME": str(folder / "home"),
    }
    try:
        with serve(site) as port:
            sources = folder / "sources.toml"
            sources.write_text(site.sources_toml(port), encoding="utf-8")
            command = [
                newswatch, "run", "--force", "--sources", str(sources), "--db", str(db),
                "--alerts", str(alerts), "--allow-private", "127.0.0.0/8",
            ]  # fmt: skip
            first = run_measured(command, env)
            again = run_measured(command, env)
        for name, measured in (("run", first), ("unchanged re-run", again)):
            if measured.returncode != 0:
                print(f"\n{name} exited {measured.returncode}:\n{measured.output}")
        flows = flow_runs(folder / "prefect")
        rate = args.pages / first.seconds
        print(f"\nnewswatch run: {rate:7.1f} pages/s ({first.seconds:.1f} s whole process)")
        print(f"ratio to {cores} x bare 1-core: {rate / (cores * one_rate):.2f}")
        print(f"ratio to bare {cores}-process:  {rate / all_rate:.2f}")
        print(
            f"peak memory of the run's process tree: PSS {first.peak_pss / 2**20:.0f} MiB, "
            f"RSS summed {first.peak_rss / 2**20:.0f} MiB (shared pages counted per process)"
        )
        shares = ", ".join(f"{name} {pss / 2**20:.0f}" for name, pss in first.at_peak)
        print(f"  PSS by process at the peak (MiB): {shares}")
        if len(flows) >= 2:
            print("  where the run's time went:\n" + breakdown(first, flows[0]))
            flow = (flows[1].end - flows[1].start).total_seconds()
            print(
                f"\nunchanged re-run: {again.seconds:.1f} s whole process, {flow:.2f} s flow start "
                f"to flow end; peak PSS {again.peak_pss / 2**20:.0f} MiB"
            )
            print("  where the re-run's time went:\n" + breakdown(again, flows[1]))
        print("\nthe run's summary:\n" + first.output.strip())
        print("\nthe re-run's summary:\n" + again.output.strip())
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
