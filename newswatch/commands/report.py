"""``newswatch report``: one self-contained HTML trend report from the warehouse snapshot."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from newswatch.commands.common import add_db_argument, settings_from_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML trend report (one file, opens offline)",
        description="Read the published snapshot of the warehouse (the main database with "
        "--live) and write one self-contained HTML file with no script and no external "
        "resource: "
        "trend charts per entity with spikes marked, co-occurrence, share by outlet and "
        "language, new stories, emerging terms.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report.html"), help="HTML file to write (report.html)"
    )
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        metavar="DATE",
        help="first day of the window, YYYY-MM-DD (default: 90 days before the last article)",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--live",
        action="store_true",
        help="read the main database (read-only) instead of the published snapshot",
    )
    parser.set_defaults(handler=handle)


def source_path(args: argparse.Namespace) -> Path:
    """The snapshot published after each load (so a report never blocks a load), or the
    main database with ``--live`` or when there is no snapshot yet."""
    settings = settings_from_args(args)
    db_path = settings.db_path
    if args.live:
        return db_path
    snapshot = settings.snapshot_path
    if snapshot.exists():
        return snapshot
    print(f"newswatch: no snapshot at {snapshot}; reading {db_path}", file=sys.stderr)
    return db_path


def handle(args: argparse.Namespace) -> int:
    from newswatch.report import write_report

    data = write_report(source_path(args), args.out, since=args.since)
    spikes = sum(len(e.spikes) for e in data.entities)
    print(
        f"Wrote {args.out}: {data.window.since} to {data.window.until}, "
        f"{data.totals.articles} articles, {len(data.entities)} entities, {spikes} spikes, "
        f"{len(data.new_stories)} new stories"
    )
    return 0
