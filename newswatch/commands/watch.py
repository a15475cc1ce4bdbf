"""``newswatch watch``: continuous mode in one process, until SIGINT/SIGTERM.

A thin front-end over Prefect's interval scheduling: it serves the ``ingest`` flow as
``ingest/watch-serve`` every ``--interval`` (default: ``--min-interval``) with the cadence
parameters of prefect.yaml's ``watch`` deployment (``newswatch.flows.watch``), on the server
in PREFECT_API_URL or, when unset, on one temporary Prefect server started for the whole
watch; and prints one line per finished run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from newswatch.commands.common import add_ingest_options, ingest_inputs, settings_from_args
from newswatch.commands.run import prepare_prefect_environment
from newswatch.core.errors import NewswatchError
from newswatch.flows.watch import WATCH_CADENCE

if TYPE_CHECKING:
    from newswatch.flows.watch import FinishedRun

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``5m``, ``6h``, ``1d`` -> seconds (argparse type)."""
    match = DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 5m, 6h)")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2).lower()]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="keep polling: each feed at its own pace, until SIGINT/SIGTERM",
        description="Serve the ingest flow on a Prefect interval schedule (deployment "
        "ingest/watch-serve, the parameters of prefect.yaml's watch deployment): every "
        "--interval a run polls only the feeds whose cadence says due (declared TTL / update "
        "period, Cache-Control, Retry-After, spacing of new entries, clamped to "
        "[--min-interval, --max-interval]), at most --batch-size of them. Uses the server in "
        "PREFECT_API_URL, else one temporary server. One line per finished run. "
        "SIGINT/SIGTERM stop it after the run in flight; a second signal stops it at once "
        "(nothing is ever half-loaded: a staged batch is loaded by the next run).",
    )
    minimum = float(WATCH_CADENCE["min_poll_interval"])  # type: ignore[arg-type]
    maximum = float(WATCH_CADENCE["max_poll_interval"])  # type: ignore[arg-type]
    parser.add_argument(
        "--min-interval",
        type=parse_duration,
        default=minimum,
        metavar="DURATION",
        help=f"shortest poll interval of a feed (default {minimum:g}s)",
    )
    parser.add_argument(
        "--max-interval",
        type=parse_duration,
        default=maximum,
        metavar="DURATION",
        help=f"longest poll interval of a feed (default {maximum:g}s)",
    )
    parser.add_argument(
        "--interval",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="time between scheduled runs (default: --min-interval)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=WATCH_CADENCE["max_feeds"],
        help=f"feeds per ingest run, most overdue first (default {WATCH_CADENCE['max_feeds']})",
    )
    parser.add_argument("--max-runs", type=int, default=None, help=argparse.SUPPRESS)
    add_ingest_options(parser)
    parser.set_defaults(handler=handle)


def watch_parameters(
    args: argparse.Namespace, sources: object, allow_private: list[str]
) -> dict[str, object]:
    """The served deployment's parameters: ``newswatch serve``'s (absolute paths, optional
    ones only when given) plus the watch cadence from the options."""
    from pathlib import Path

    from newswatch.commands.serve import serve_parameters
    from newswatch.flows.watch import watch_parameters as cadence

    base = serve_parameters(args, Path(str(sources)), allow_private)
    return cadence(
        base,
        batch_size=max(args.batch_size, 1),
        min_interval=args.min_interval,
        max_interval=args.max_interval,
    )


def handle(args: argparse.Namespace) -> int:
    if args.min_interval > args.max_interval:
        print("newswatch watch: --min-interval is longer than --max-interval")
        return 2
    from newswatch.commands.run import check_config_files

    check_config_files(args)
    prepare_prefect_environment()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    settings = settings_from_args(args)
    interval = args.interval or args.min_interval
    with ExitStack() as stack:
        sources, allow_private = ingest_inputs(stack, args, settings)
        parameters = watch_parameters(args, sources, allow_private)
        print(
            f"Watching {sources} into {parameters['db']} (a run every {interval:g} s, "
            f"feeds every {args.min_interval:g}-{args.max_interval:g} s, "
            f"{parameters['max_feeds']} at a time); Ctrl-C stops",
            flush=True,
        )
        stack.enter_context(prefect_api())
        report = run_watch(parameters, interval, args.max_runs)
    print(
        f"newswatch watch stopped: {report['runs']} runs, {report['feeds']} feed polls, "
        f"{report['articles']} new articles, {report['failed']} failed runs",
        flush=True,
    )
    return 0


@contextmanager
def prefect_api() -> Iterator[None]:
    """PREFECT_API_URL when set; else one local ``prefect server start`` for the whole
    watch (Prefect's in-process temporary server runs no scheduler service, so an interval
    schedule would never fire on it). The runner, its flow-run subprocesses and the run
    reports all use it; it is stopped when the watch ends."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.context import refresh_global_settings_context

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "0"}
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal reaches the watch, not the server
    )
    try:
        print(f"Starting a local Prefect server on {url}", flush=True)
        _wait_healthy(url, server)
        # every thread and subprocess (the runner's flow runs) must see this one server
        os.environ["PREFECT_API_URL"] = url
        refresh_global_settings_context()
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        refresh_global_settings_context()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    from prefect.client.orchestration import SyncPrefectClient

    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
    deadline = time.monotonic() + timeout
    with SyncPrefectClient(url) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise NewswatchError(f"the local Prefect server exited ({server.returncode})")
            if client.api_healthcheck() is None:
                return
            time.sleep(0.5)
    raise NewswatchError(f"the local Prefect server was not healthy in {timeout:g} s")


def run_watch(
    parameters: dict[str, object], interval: float, max_runs: int | None
) -> dict[str, int]:
    import asyncio

    from newswatch.flows.watch import StopRequest, serve_watch

    report = {"runs": 0, "feeds": 0, "articles": 0, "failed": 0}

    def on_run(run: FinishedRun) -> None:
        report["runs"] += 1
        if run.counts is not None:
            report["feeds"] += int(run.counts["feeds_polled"])
            report["articles"] += int(run.counts["new_articles"])
        if run.state != "COMPLETED":
            report["failed"] += 1
        print(run.line(), flush=True)

    stop = StopRequest()
    asyncio.run(serve_watch(parameters, interval, stop, on_run, max_runs=max_runs))
    return report
