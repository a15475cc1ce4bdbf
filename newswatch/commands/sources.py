"""``newswatch sources list|check|reset``: show the catalogue; fetch each source once;
clear a feed's backoff so the next run polls it at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.core.errors import NewswatchError
from newswatch.core.records import FeedPoll, Source
from newswatch.core.settings import DEFAULT_SOURCES, Settings

if TYPE_CHECKING:
    from rich.console import Console

    from newswatch.warehouse.feed_admin import FeedReset

# The handlers import the source loader (its GDELT adapter pulls asyncio) and rich
# themselves: parsing arguments, for every command, does not pay for them.


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sources",
        help="list the source catalogue or check that each source answers",
        description="Show the feeds newswatch polls, or fetch each once and report its status.",
    )
    actions = parser.add_subparsers(dest="sources_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="print the catalogue as a table")
    _add_sources_argument(listing)
    listing.set_defaults(handler=handle_list)

    check = actions.add_parser(
        "check",
        help="fetch every enabled source once and print status, HTTP code, entries, reason",
        description="Fetch every enabled source once (no database writes). Exit 0 when the "
        "check ran, even if sources failed; each failure gets one clear reason.",
    )
    _add_sources_argument(check)
    check.add_argument(
        "--allow-private",
        action="append",
        default=[],
        metavar="HOST",
        help="allow this private/loopback host despite the SSRF guard (repeatable)",
    )
    check.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="total deadline per request (default: settings, 60 s)",
    )
    check.set_defaults(handler=handle_check)

    reset = actions.add_parser(
        "reset",
        help="clear feeds' backoff, failure count and next poll: the next run polls them",
        description="Clear the stored failure count, next-poll time (failure backoff, "
        "Retry-After or cadence) and retirement of the given feeds, or of every feed with "
        "--all, so that the next run (or watch tick) polls them at once. ETag, "
        "Last-Modified and the last error stay. An unknown id changes nothing (exit 1).",
    )
    reset.add_argument("ids", nargs="*", metavar="ID", help="source id (repeatable)")
    reset.add_argument("--all", action="store_true", help="reset every feed")
    add_db_argument(reset)
    reset.set_defaults(handler=handle_reset)


def _add_sources_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"source catalogue (default: {DEFAULT_SOURCES})",
    )


def handle_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from newswatch.extractors.sources import load_sources

    sources = load_sources(args.sources or DEFAULT_SOURCES)
    table = Table(title=f"{len(sources)} sources ({args.sources or DEFAULT_SOURCES})")
    for column in ("id", "name", "language", "kind", "enabled", "url"):
        table.add_column(column, overflow="fold")
    for source in sources:
        table.add_row(
            source.id,
            source.name,
            source.language or "",
            source.kind,
            "yes" if source.enabled else "no",
            source.url,
        )
    _console().print(table)
    return 0


def handle_check(args: argparse.Namespace) -> int:
    import asyncio

    from rich.table import Table

    from newswatch.extractors.sources import BASE_PLACEHOLDER, load_sources

    sources = [s for s in load_sources(args.sources or DEFAULT_SOURCES) if s.enabled]
    settings = settings_from_args(args)
    if args.allow_private:
        settings = replace(settings, allow_private=(*settings.allow_private, *args.allow_private))
    if args.timeout is not None:
        settings = replace(settings, total_timeout=args.timeout)
    checkable = [s for s in sources if BASE_PLACEHOLDER not in s.url]
    polls = asyncio.run(check_sources(checkable, settings))
    by_id = {poll.source_id: poll for poll in polls}

    table = Table(title=f"source check ({len(sources)} enabled sources)")
    for column in ("id", "status", "HTTP", "entries", "ms", "reason"):
        table.add_column(column, overflow="fold")
    for source in sources:
        poll = by_id.get(source.id)
        if poll is None:
            table.add_row(source.id, "skipped", "", "", "", "needs the sample server ({{BASE}})")
            continue
        table.add_row(
            source.id,
            poll.status,
            str(poll.http_status or ""),
            str(len(poll.entries)),
            f"{poll.elapsed_ms:.0f}",
            describe(poll),
        )
    console = _console()
    console.print(table)
    reachable = sum(poll.status != "error" for poll in polls)
    console.print(f"{reachable}/{len(polls)} sources reachable")
    return 0


def handle_reset(args: argparse.Namespace) -> int:
    from newswatch.warehouse.feed_admin import (
        reset_feed_state,  # duckdb kept off `newswatch --help`
    )

    if bool(args.ids) == bool(args.all):
        raise NewswatchError("sources reset: give one or more source ids, or --all (not both)")
    db_path = settings_from_args(args).db_path
    report = reset_feed_state(db_path, None if args.all else list(args.ids))
    if report.db_missing:
        print(f"no database at {db_path}: nothing to reset (every feed is polled on the first run)")
        return 0
    if not report.reset and not report.never_polled:
        print(f"nothing to reset in {db_path}: no feed has stored state yet")
        return 0
    print(f"reset {len(report.reset)} feed(s) in {db_path}; the next run polls them at once")
    width = max(len(sid) for sid in [*(r.source_id for r in report.reset), *report.never_polled])
    for feed in report.reset:
        print(f"  {feed.source_id:<{width}}  was {held_back(feed)}")
    for source_id in report.never_polled:
        print(f"  {source_id:<{width}}  never polled: nothing stored, polled on the next run")
    return 0


def held_back(feed: FeedReset) -> str:
    """What held ``feed`` back before its reset, in a few words."""
    until = _when(feed.next_poll_at)
    if feed.retired_at is not None:
        what = f"retired since {_when(feed.retired_at)}"
    elif feed.consecutive_failures:
        what = f"backing off after {feed.consecutive_failures} failure(s) until {until}"
    elif feed.next_poll_at is not None:
        what = f"on its cadence until {until}"
    else:
        return "already due"
    return f"{what} (last error: {feed.last_error})" if feed.last_error else what


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


async def check_sources(sources: Sequence[Source], settings: Settings) -> list[FeedPoll]:
    """Poll each source once, without stored state (no conditional request)."""
    from newswatch.extractors.http import Fetcher  # httpx import kept off `newswatch --help`

    async with Fetcher(settings) as fetcher:
        return await fetcher.poll_feeds(sources, {})


def _console() -> Console:
    """A terminal-wide console; 160 columns when piped (rich would assume 80)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def describe(poll: FeedPoll) -> str:
    """One line saying what happened: the error, else bozo and notes."""
    if poll.status == "error":
        return poll.error or "unknown error"
    parts = list(poll.notes)
    if poll.bozo:
        parts.insert(0, f"bozo: {poll.bozo_error}")
    return "; ".join(parts)
