"""``newswatch report``: one self-contained HTML trend report from the warehouse snapshot."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from newswatch.commands.common import settings_from_args
from newswatch.commands.reading import add_reader_arguments

DEFAULT_WINDOW_WEEKS = 26  # warehouse/report_queries.py's (not imported: keeps --help light)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write an HTML trend report (one file, opens offline)",
        description="Read the published snapshot of the warehouse (the main database with "
        "--live) and write one self-contained HTML file with no script and no external "
        "resource: the window and the data's span stated at the top, on-topic stories per "
        "week, the week's new stories (headline, outlets, summary), weekly panels per "
        "topic-specific entity with spikes marked (countries, governments and other context "
        "entities summarised in a table), co-occurrence, share by outlet and language, "
        "emerging terms.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("report.html"), help="HTML file to write (report.html)"
    )
    parser.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        metavar="DATE",
        help="first day of the window, YYYY-MM-DD (default: --weeks weeks back from the "
        "last article, or the first article when the data spans less)",
    )
    parser.add_argument(
        "--weeks",
        type=_positive_int,
        default=DEFAULT_WINDOW_WEEKS,
        metavar="N",
        help=f"default window in weeks, ending on the last article ({DEFAULT_WINDOW_WEEKS})",
    )
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        metavar="PATH",
        help="entity catalogue saying which entities are topic-specific (the bundled "
        "seeds/entities.toml, as ingest uses)",
    )
    add_reader_arguments(parser)
    parser.set_defaults(handler=handle)


def source_path(args: argparse.Namespace) -> Path:
    """The snapshot published after each load (so a report never blocks a load), or the
    main database with ``--live``, when there is no snapshot yet, or when it is a lake."""
    from newswatch.warehouse.db import is_lake_catalog

    settings = settings_from_args(args)
    db_path = settings.db_path
    if args.live or is_lake_catalog(db_path):  # a lake is read live: it never blocks a load
        return db_path
    snapshot = settings.snapshot_path
    if snapshot.exists():
        return snapshot
    print(f"newswatch: no snapshot at {snapshot}; reading {db_path}", file=sys.stderr)
    return db_path


def handle(args: argparse.Namespace) -> int:
    from newswatch.report import write_report

    data = write_report(
        source_path(args), args.out, since=args.since, weeks=args.weeks, catalogue=args.catalogue
    )
    window = data.window
    spikes = sum(len(e.spikes) for e in data.topic_entities)
    left_out = (
        f" ({window.articles_before} earlier articles left out; the data starts "
        f"{window.data_first})"
        if window.articles_before
        else ""
    )
    print(
        f"Wrote {args.out}: {window.since} to {window.until}, {len(window.weeks)} weeks, "
        f"{data.totals.articles} articles{left_out}, {len(data.topic_entities)} topic "
        f"entities, {spikes} spikes, {len(data.new_stories)} new stories"
    )
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
