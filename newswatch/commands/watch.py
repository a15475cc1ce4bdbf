"""``newswatch watch``: poll each feed at its own pace until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import os
import re
from contextlib import ExitStack
from typing import TYPE_CHECKING

from newswatch.commands.common import add_ingest_options, ingest_inputs, settings_from_args
from newswatch.commands.run import prepare_prefect_environment
from newswatch.core.settings import DEFAULT_ALERTS

if TYPE_CHECKING:
    from newswatch.core.summaries import IngestSummary

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
        description="A long-running loop: each tick polls only the feeds whose cadence says "
        "due (declared TTL / update period, Cache-Control, Retry-After, spacing of new "
        "entries, clamped to [--min-interval, --max-interval]) through the ingest flow, "
        "then sleeps until the next feed is due. SIGINT/SIGTERM stop it after the current "
        "batch; a second signal stops it at once (nothing is ever half-loaded).",
    )
    parser.add_argument("--min-interval", type=parse_duration, default="5m", metavar="DURATION")
    parser.add_argument("--max-interval", type=parse_duration, default="6h", metavar="DURATION")
    parser.add_argument(
        "--batch-size", type=int, default=10, help="feeds per ingest run (default 10)"
    )
    parser.add_argument(
        "--max-sleep",
        type=parse_duration,
        default="60s",
        metavar="DURATION",
        help="re-read feed state at least this often (default 60s)",
    )
    parser.add_argument("--max-runs", type=int, default=None, help=argparse.SUPPRESS)
    add_ingest_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.min_interval > args.max_interval:
        print("newswatch watch: --min-interval is longer than --max-interval")
        return 2
    prepare_prefect_environment()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    settings = settings_from_args(args)
    from newswatch.flows.watch import StopFlag, WatchOptions, stop_on_signals, watch

    with ExitStack() as stack:
        sources, allow_private = ingest_inputs(stack, args, settings)
        options = WatchOptions(
            sources=str(sources),
            db=str(settings.db_path),
            allow_private=tuple(allow_private),
            alerts=str(args.alerts or DEFAULT_ALERTS),
            alerts_to=tuple(args.alerts_to),
            min_interval=args.min_interval,
            max_interval=args.max_interval,
            batch_size=max(args.batch_size, 1),
            max_sleep=args.max_sleep,
            max_runs=args.max_runs,
        )
        print(
            f"Watching {sources} into {settings.db_path} "
            f"(poll every {args.min_interval:g}-{args.max_interval:g} s); Ctrl-C stops",
            flush=True,
        )
        stop = StopFlag()
        with stop_on_signals(stop):
            report = watch(options, stop, on_run=_print_run)
    print(
        f"newswatch watch stopped: {report.runs} runs, {report.feeds_polled} feed polls, "
        f"{report.new_articles} new articles, {report.failed_runs} failed runs",
        flush=True,
    )
    return 0


def _print_run(summary: IngestSummary) -> None:
    print(
        f"run {summary.run_id}: {summary.feeds_polled} feeds polled "
        f"({summary.feeds_failed} failed, {summary.feeds_unchanged} unchanged), "
        f"{summary.new_articles} new articles, {summary.alerts_sent} alerts sent "
        f"[{summary.load_message}]",
        flush=True,
    )
