"""Schedulers benchmark: `newswatch watch`'s own loop against a Prefect-served interval flow.

    python bench/watch/schedulers.py            # ~13 min
    python bench/watch/schedulers.py --quick    # ~4 min, noisier

Issue 15 item 5 asks for one scheduling mechanism for continuous mode. This runs the two
candidates side by side, in one run, on the same local feeds (one scripted publisher, two
HTTP servers on 127.0.0.1, threads of this process, so each mode's requests are counted
apart), each mode with its own database, alert file and Prefect home:

- (A) loop: the real CLI, ``newswatch watch --min-interval 30s --max-interval 120s
  --batch-size 20``, on Prefect's temporary server (a child of the CLI, as a user gets it);
- (B) served: ``ingest.serve(interval=30, parameters={respect_cadence: True, max_feeds: 20,
  min/max_poll_interval: 30/120, ...}, limit=1)`` in its own process (a child of this script,
  ``--serve-child``) against a real ``prefect server start``: the ``watch`` deployment of
  prefect.yaml, served instead of worker-run, its 300 s interval scaled like the loop's
  5-minute min-interval (10x: 30 s). Prefect's defaults otherwise (the runner polls for
  scheduled runs every 10 s; each flow run is a spawned subprocess).

``newswatch serve`` itself cannot be mode B: it takes a cron (minute-granular) and passes no
``respect_cadence``, so every run polls every feed; ``--modes A,B,C`` adds it as (C),
``newswatch serve --cron "* * * * *"`` on its own ``prefect server start``.

Twenty feeds publish at random times (a Poisson process each, mean gap log-uniform in
30-240 s, fixed seed) during the publishing window; then an idle window with no new entry,
then at most ``--drain`` s for the last alerts. Figures per mode:

- alert latency, entry appears in its feed -> its line is in the mode's alert file
  (p50/p95/max; entries never alerted are counted apart);
- ingest flow runs and feed polls (feed.xml requests) per hour of bench time, and per real
  hour (the bench runs 10x faster than the 5-minute product defaults: /10);
- wasted runs: runs that polled no feed (nothing was due), from each database's runs table;
- CPU seconds of the mode's whole process tree (Prefect server included, flow-run
  subprocesses included once reaped) over the idle window and over the measured time;
- peak RSS of the process tree (sum over its live processes, sampled every 0.25 s);
- stop: seconds from SIGTERM to exit, and whether it was clean.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from random import Random
from types import ModuleType

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = sys.executable


def _load_run_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_watch_run", HERE / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_run_bench()  # Publisher.page/feed, tail_alerts, percentile, RULES

FEEDS = 20
MIN_INTERVAL, MAX_INTERVAL = 30.0, 120.0  # the loop's cadence bounds = the flow's parameters
SERVE_INTERVAL = 30.0  # the served deployment's interval schedule
SCALE = 300.0 / SERVE_INTERVAL  # prefect.yaml's watch: every 300 s, min_poll_interval 300 s
GAPS = (30.0, 240.0)  # mean gap between a feed's entries: log-uniform in this range
SERVE_NAME = "watch-bench-serve"
CRON_NAME = "ingest/daily-ingest-serve"
MODE_TITLES = {
    "A": "A loop: newswatch watch",
    "B": "B served: ingest.serve(interval=30 s, respect_cadence)",
    "C": "C newswatch serve --cron '* * * * *'",
}


class Feeds(bench.Publisher):  # type: ignore[misc, name-defined]
    """Twenty feeds, each with a short history at its own mean gap."""

    def __init__(self, gaps: dict[str, float]) -> None:
        self.entries = {}
        self.appeared = {}
        self.requests = Counter()
        self.lock = threading.Lock()
        start = datetime.now(UTC)
        for name, gap in gaps.items():
            self.entries[name] = [
                (f"{name}-old-{i}", start - timedelta(seconds=gap * i)) for i in range(1, 6)
            ]


def plan(seed: int, window: float) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Each feed's mean gap, and (offset s, feed) for every entry published in ``window``."""
    rng = Random(seed)
    gaps = {f"f{i:02d}": math.exp(rng.uniform(*map(math.log, GAPS))) for i in range(FEEDS)}
    events = []
    for name, gap in gaps.items():
        at = rng.expovariate(1 / gap)
        while at < window:
            events.append((at, name))
            at += rng.expovariate(1 / gap)
    return gaps, sorted(events)


def handler(feeds: Feeds, requests: Counter[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            requests[self.path] += 1
            base = f"http://{self.headers['Host']}"
            if len(parts) == 2 and parts[1] == "feed.xml" and parts[0] in feeds.entries:
                body, ctype, status = feeds.feed(parts[0], base), "application/rss+xml", 200
            elif len(parts) == 2 and parts[1].endswith(".html"):
                body, ctype, status = feeds.page(parts[1][:-5]), "text/html", 200
            elif self.path == "/robots.txt":
                body, ctype, status = b"User-agent: *\nAllow: /\n", "text/plain", 200
            else:
                body, ctype, status = b"not found", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


# -- process trees --------------------------------------------------------------------------


def proc_table() -> dict[int, tuple[int, float, float]]:
    """pid -> (ppid, CPU s incl. reaped children, RSS MB) for every live process."""
    tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
        table[int(stat.parent.name)] = (int(fields[1]), cpu, int(fields[21]) * page / 2**20)
    return table


def tree_usage(roots: list[int]) -> tuple[float, float, int]:
    """(CPU s, RSS MB, processes) of ``roots`` and all their live descendants."""
    table = proc_table()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    todo, seen = [r for r in roots if r in table], set()
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(kids.get(pid, []))
    return (
        sum(table[p][1] for p in seen),
        sum(table[p][2] for p in seen),
        len(seen),
    )


@dataclass
class Mode:
    key: str
    work: Path
    server: ThreadingHTTPServer
    requests: Counter[str] = field(default_factory=Counter)
    seen: dict[str, float] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_url: str | None = None
    peak_rss: float = 0.0
    peak_procs: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    stop_seconds: float = float("nan")
    stop_clean: bool = False
    api_runs: Counter[str] = field(default_factory=Counter)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def db(self) -> Path:
        return self.work / "bench.duckdb"

    @property
    def alerts_file(self) -> Path:
        return self.work / "alerts.jsonl"

    def roots(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def launch(mode: Mode, name: str, args: list[str], env: dict[str, str]) -> None:
    with (mode.work / f"{name}.log").open("wb") as log:
        mode.procs.append(
            subprocess.Popen(
                args, cwd=mode.work, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prefect_server(mode: Mode, timeout: float = 150.0) -> None:
    import httpx

    port = free_port()
    mode.api_url = f"http://127.0.0.1:{port}/api"
    home = mode.work / "prefect-home"
    launch(
        mode,
        "server",
        [PYTHON, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        prefect_env(home),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mode.procs[-1].poll() is not None:
            raise RuntimeError(f"prefect server exited:\n{mode.log('server')[-2000:]}")
        try:
            if httpx.get(f"{mode.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy in {timeout:g} s")


def write_inputs(mode: Mode) -> tuple[Path, Path]:
    mode.work.mkdir(parents=True, exist_ok=True)
    rules = mode.work / "rules.toml"
    rules.write_text(bench.RULES.format(path=mode.alerts_file))
    sources = mode.work / "sources.toml"
    sources.write_text(
        "".join(
            f'[[source]]\nid = "{name}"\nname = "{name}"\nurl = "{mode.base}/{name}/feed.xml"\n\n'
            for name in (f"f{i:02d}" for i in range(FEEDS))
        )
    )
    return sources, rules


def start_mode(mode: Mode) -> None:
    sources, rules = write_inputs(mode)
    common = ["--sources", str(sources), "--db", str(mode.db), "--allow-private", "127.0.0.1"]
    common += ["--alerts", str(rules)]
    if mode.key == "A":
        launch(
            mode,
            "watch",
            [
                *(PYTHON, "-m", "newswatch.cli", "watch", *common),
                *("--min-interval", f"{MIN_INTERVAL:g}s", "--max-interval", f"{MAX_INTERVAL:g}s"),
                *("--batch-size", str(FEEDS)),
            ],
            prefect_env(mode.work / "prefect-home"),
        )
        return
    start_prefect_server(mode)
    env = prefect_env(mode.work / "prefect-home", mode.api_url)
    if mode.key == "B":
        params = {
            "sources": str(sources),
            "db": str(mode.db),
            "allow_private": ["127.0.0.1"],
            "alerts": str(rules),
            "respect_cadence": True,
            "max_feeds": FEEDS,
            "min_poll_interval": MIN_INTERVAL,
            "max_poll_interval": MAX_INTERVAL,
        }
        (mode.work / "params.json").write_text(json.dumps(params))
        launch(mode, "serve", [PYTHON, __file__, "--serve-child", str(mode.work)], env)
    else:
        cron = [PYTHON, "-m", "newswatch.cli", "serve", *common, "--cron", "* * * * *"]
        launch(mode, "serve", cron, env)


def serve_child(work: Path) -> int:
    """Mode B's process: the ingest flow served on an interval, cadence respected."""
    sys.path.insert(0, str(REPO))
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from newswatch.flows.ingest import ingest

    ingest.serve(
        name=SERVE_NAME,
        interval=SERVE_INTERVAL,
        parameters=json.loads((work / "params.json").read_text()),
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        limit=1,
    )
    return 0


def sample(modes: list[Mode], stop: threading.Event) -> None:
    while not stop.is_set():
        for mode in modes:
            _, rss, count = tree_usage(mode.roots())
            mode.peak_rss, mode.peak_procs = max(mode.peak_rss, rss), max(mode.peak_procs, count)
        stop.wait(0.25)


def mark_cpu(modes: list[Mode], label: str) -> None:
    for mode in modes:
        mode.cpu[label] = tree_usage(mode.roots())[0]


def stop_mode(mode: Mode) -> None:
    """SIGTERM to the scheduler process (the loop, or the runner); then the server."""
    scheduler = mode.procs[-1]
    began = time.monotonic()
    scheduler.send_signal(signal.SIGTERM)
    try:
        scheduler.wait(timeout=90)
        mode.stop_seconds = time.monotonic() - began
        mode.stop_clean = scheduler.returncode == 0
    except subprocess.TimeoutExpired:
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=10)
    if mode.key == "A":
        mode.stop_clean = mode.stop_clean and "newswatch watch stopped" in mode.log("watch")
    else:
        mode.api_runs = api_run_states(mode)
    for proc in mode.procs[:-1]:  # the Prefect server
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def api_run_states(mode: Mode) -> Counter[str]:
    import httpx

    try:
        runs = httpx.post(f"{mode.api_url}/flow_runs/filter", json={"limit": 200}, timeout=30)
        runs.raise_for_status()
    except httpx.HTTPError:
        return Counter()
    return Counter(r["state_type"] for r in runs.json())


def db_runs(mode: Mode, since: datetime) -> list[int]:
    """feeds_polled of every ingest run that started after ``since``."""
    from newswatch.warehouse.db import connect

    if not mode.db.exists():
        return []
    with connect(mode.db, read_only=True) as con:
        rows = con.execute(
            "SELECT feeds_polled FROM runs WHERE started_at >= ? ORDER BY started_at", [since]
        ).fetchall()
    return [int(r[0]) for r in rows]


def feed_polls(requests: Counter[str]) -> int:
    return sum(n for path, n in requests.items() if path.endswith("/feed.xml"))


def wait_until(modes: list[Mode], slugs: list[str], timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        for mode in modes:
            for proc in mode.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"mode {mode.key}: a process exited:\n{last_logs(mode)}")
        if all(all(s in m.seen for s in slugs) for m in modes):
            break
        time.sleep(0.25)
    return time.monotonic() - began


def last_logs(mode: Mode) -> str:
    return "\n".join(mode.log(n)[-1500:] for n in ("server", "watch", "serve"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="120 s publish, 45 s idle (~4 min)")
    parser.add_argument("--publish", type=float, help="seconds of publishing (default 420)")
    parser.add_argument("--idle", type=float, help="seconds with no new entry (default 150)")
    parser.add_argument("--drain", type=float, help="max seconds for the last alerts (90)")
    parser.add_argument("--modes", default="A,B", help="A,B (default) or A,B,C")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--serve-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_child:
        return serve_child(args.serve_child)
    quick = args.quick
    args.publish = args.publish or (120.0 if quick else 420.0)
    args.idle = args.idle or (45.0 if quick else 150.0)
    args.drain = args.drain if args.drain is not None else (20.0 if quick else 90.0)
    began = time.monotonic()

    gaps, events = plan(args.seed, args.publish)
    feeds = Feeds(gaps)
    old = [slug for entries in feeds.entries.values() for slug, _ in entries]
    root = Path(tempfile.mkdtemp(prefix="bench-schedulers-"))
    stop_threads = threading.Event()
    modes = []
    for key in args.modes.split(","):
        requests: Counter[str] = Counter()
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler(feeds, requests))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        mode = Mode(key=key, work=root / key, server=server, requests=requests)
        modes.append(mode)
    try:
        for mode in modes:
            start_mode(mode)
            tail = threading.Thread(
                target=bench.tail_alerts, args=(mode.alerts_file, mode.seen, stop_threads)
            )
            tail.daemon = True
            tail.start()
        threading.Thread(target=sample, args=(modes, stop_threads), daemon=True).start()
        warm = wait_until(modes, old, 240.0)
        print(f"warm-up (servers up, feed history alerted in every mode): {warm:.0f} s", flush=True)
        for mode in modes:
            mode.requests.clear()
        since = datetime.now(UTC)
        t0 = time.monotonic()
        mark_cpu(modes, "start")
        count: Counter[str] = Counter()
        for offset, name in events:
            time.sleep(max(0.0, t0 + offset - time.monotonic()))
            count[name] += 1
            feeds.publish(name, count[name])
        time.sleep(max(0.0, t0 + args.publish - time.monotonic()))
        mark_cpu(modes, "idle_start")
        time.sleep(args.idle)
        mark_cpu(modes, "idle_end")
        window = time.monotonic() - t0
        drained = wait_until(modes, list(feeds.appeared), args.drain)
        polls = {
            m.key: sum(n for p, n in m.requests.items() if p.endswith("/feed.xml")) for m in modes
        }
        for mode in modes:
            stop_mode(mode)
    finally:
        stop_threads.set()
        for mode in modes:
            for proc in mode.procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            mode.server.shutdown()
    report(args, modes, feeds, since, window, drained, polls)
    print(f"({time.monotonic() - began:.0f} s in all; work dir {root})")
    return 0


def report(
    args: argparse.Namespace,
    modes: list[Mode],
    feeds: Feeds,
    since: datetime,
    window: float,
    drained: float,
    polls: dict[str, int],
) -> None:
    hours = window / 3600
    published = len(feeds.appeared)
    print(
        f"\nschedulers bench: {FEEDS} feeds, {published} entries published over "
        f"{args.publish:g} s, then {args.idle:g} s idle (+{drained:.0f} s drain); "
        f"cadence {MIN_INTERVAL:g}-{MAX_INTERVAL:g} s, served interval {SERVE_INTERVAL:g} s "
        f"(time {SCALE:g}x faster than the 5-minute product defaults)"
    )
    rows: dict[str, dict[str, float]] = {}
    for mode in modes:
        lat = [mode.seen[s] - t for s, t in feeds.appeared.items() if s in mode.seen]
        runs = db_runs(mode, since)
        idle = mode.cpu["idle_end"] - mode.cpu["idle_start"]
        rows[mode.key] = {
            "alerted": len(lat),
            "p50": bench.percentile(lat, 0.5) if lat else float("nan"),
            "p95": bench.percentile(lat, 0.95) if lat else float("nan"),
            "max": max(lat) if lat else float("nan"),
            "runs/h": len(runs) / hours,
            "wasted": sum(1 for r in runs if r == 0),
            "runs": len(runs),
            "polls/h": polls[mode.key] / hours,
            "idle CPU s/min": idle / (args.idle / 60),
            "CPU s": mode.cpu["idle_end"] - mode.cpu["start"],
            "peak RSS MB": mode.peak_rss,
            "procs": mode.peak_procs,
            "stop s": mode.stop_seconds,
        }
    names = ["alerted", "p50", "p95", "max", "runs", "runs/h", "wasted", "polls/h"]
    names += ["idle CPU s/min", "CPU s", "peak RSS MB", "procs", "stop s"]
    header = f"{'':<16}" + "".join(f"{m.key:>10}" for m in modes)
    ratios = [m.key for m in modes if m.key != "A" and "A" in rows]
    header += "".join(f"{k + '/A':>8}" for k in ratios)
    print(header)
    for name in names:
        line = f"{name:<16}" + "".join(f"{rows[m.key][name]:>10.1f}" for m in modes)
        for key in ratios:
            a = rows["A"][name]
            line += f"{rows[key][name] / a:>8.2f}" if a else f"{'-':>8}"
        print(line)
    print(
        "  latency: s from an entry's appearance to its alert line, over the entries alerted "
        f"(of {published}); runs: ingest runs in the measured {window:.0f} s, wasted: those "
        "that polled no feed; runs/h, polls/h: per hour of bench time (divide by "
        f"{SCALE:g} for a real hour); idle CPU: the process tree's CPU s per minute of the "
        f"idle window; CPU s: publish + idle windows; RSS: the tree's peak sum; procs: its "
        "peak process count; stop: SIGTERM to exit"
    )
    for mode in modes:
        extra = f", Prefect flow runs by state {dict(mode.api_runs)}" if mode.api_runs else ""
        print(f"  {MODE_TITLES[mode.key]}: stop clean {mode.stop_clean}{extra}")
    flags = " --quick" if args.quick else ""
    print(
        f"reproduce: python bench/watch/schedulers.py{flags} --publish {args.publish:g} "
        f"--idle {args.idle:g} --drain {args.drain:g} --modes {args.modes} --seed {args.seed}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
