"""``newswatch sources list|check``: show the catalogue; fetch each source once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from extractors.models import FeedPoll, Source
from extractors.sources import BASE_PLACEHOLDER, load_sources
from newswatch.commands.common import settings_from_args
from newswatch.settings import DEFAULT_SOURCES, Settings


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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


def _add_sources_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"source catalogue (default: {DEFAULT_SOURCES})",
    )


def handle_list(args: argparse.Namespace) -> int:
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
    sources = [s for s in load_sources(args.sources or DEFAULT_SOURCES) if s.enabled]
    settings = settings_from_args(args)
    overrides: dict[str, object] = {}
    if args.allow_private:
        overrides["allow_private"] = (*settings.allow_private, *args.allow_private)
    if args.timeout is not None:
        overrides["total_timeout"] = args.timeout
    settings = replace(settings, **overrides)  # type: ignore[arg-type]
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


async def check_sources(sources: Sequence[Source], settings: Settings) -> list[FeedPoll]:
    """Poll each source once, without stored state (no conditional request)."""
    from extractors.http import Fetcher  # httpx import kept off `newswatch --help`

    async with Fetcher(settings) as fetcher:
        return await fetcher.poll_feeds(sources, {})


def _console() -> Console:
    """A terminal-wide console; 160 columns when piped (rich would assume 80)."""
    return Console(width=None if sys.stdout.isatty() else 160)


def describe(poll: FeedPoll) -> str:
    """One line saying what happened: the error, else bozo and notes."""
    if poll.status == "error":
        return poll.error or "unknown error"
    parts = list(poll.notes)
    if poll.bozo:
        parts.insert(0, f"bozo: {poll.bozo_error}")
    return "; ".join(parts)
