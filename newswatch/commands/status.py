"""``newswatch status``: last runs, feeds (status, errors, cadence), retired feeds, pending
alerts, staged batches not loaded yet. Reads the snapshot when a writer holds the database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.commands.output import pipe_console
from newswatch.core.errors import WarehouseLocked
from newswatch.core.records import FeedState

if TYPE_CHECKING:
    from newswatch.extractors.health import FeedHealth
    from newswatch.warehouse.status_queries import FeedRow, PendingAlert, RunRow, StagedRow


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="last runs, feeds with their next poll and cadence, pending alerts, staged batches",
    )
    parser.add_argument("--runs", type=int, default=10, help="how many runs to list (10)")
    add_db_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.warehouse.status_queries import read_status, staged_not_loaded

    settings = settings_from_args(args)
    now = datetime.now(UTC)
    console = pipe_console(width=None if sys.stdout.isatty() else 200)
    try:
        status = read_status(settings.db_path, now, runs=args.runs)
        status_db = settings.db_path
    except WarehouseLocked:
        if not settings.snapshot_path.exists():
            raise
        console.print(f"[yellow]database busy: showing the snapshot {settings.snapshot_path}")
        status = read_status(settings.snapshot_path, now, runs=args.runs)
        status_db = settings.snapshot_path
    health = feed_health(status.feeds, status_db, now)
    staged = staged_not_loaded(settings.staging_dir)
    if not settings.db_path.exists():
        console.print(f"no database yet at {settings.db_path}")
    for table in (
        runs_table(status.runs),
        feeds_table(status.feeds, now, health),
        retired_table(status.feeds, health),
        alerts_table(status.pending_alerts),
        staged_table(staged),
    ):
        console.print(table)
    console.print(
        f"{len(status.feeds)} feeds ({feed_counts(status.feeds, health)}), "
        f"{len(status.pending_alerts)} pending "
        f"alerts, {len(staged)} staged batches not loaded"
    )
    return 0


def feed_counts(feeds: Sequence[FeedRow], health: dict[str, FeedHealth]) -> str:
    """The summary's counts, from the same verdicts as the health column: "failing" is
    the feed-health verdict (failed FAIL_AFTER polls in a row: what alerts), a feed whose
    last polls failed below that is counted apart."""
    verdicts = [health.get(f.source_id) for f in feeds]
    failing = sum(v is not None and v.status == "failing" for v in verdicts)
    quiet = sum(v is not None and v.status == "quiet" for v in verdicts)
    retired = sum(f.retired_at is not None for f in feeds)
    erring = sum(_erring(f, health.get(f.source_id)) for f in feeds)
    counts = f"{failing} failing, "
    if erring:
        counts += f"{erring} with a failed last poll, "
    return counts + f"{quiet} quiet, {retired} retired"


def _erring(feed: FeedRow, verdict: FeedHealth | None) -> bool:
    """Its last poll failed, but not yet as often as the health verdict "failing" needs."""
    judged = verdict is not None and verdict.status in ("failing", "retired")
    return feed.consecutive_failures > 0 and feed.retired_at is None and not judged


def runs_table(runs: Sequence[RunRow]) -> Table:
    table = Table(
        "started", "seconds", "feeds", "failed", "unchanged", "new", "on-topic", "loaded",
        title="Last runs", title_justify="left",
    )  # fmt: skip
    for run in runs:
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        table.add_row(
            _when(run.started_at),
            f"{took:.1f}" if took is not None else "",
            str(run.feeds_polled),
            _red_if(run.feeds_failed),
            str(run.feeds_unchanged),
            str(run.new_articles),
            str(run.on_topic_articles),
            "yes" if run.loaded_at else "[yellow]no",
        )
    return table


def feed_health(feeds: Sequence[FeedRow], db_path: Path, now: datetime) -> dict[str, FeedHealth]:
    """The same verdict that raises feed-health alerts: failing, quiet, ok or unknown."""
    from newswatch.extractors.health import judge_feed
    from newswatch.warehouse.health_queries import feed_histories

    histories = feed_histories(db_path) if db_path.exists() else {}
    verdicts: dict[str, FeedHealth] = {}
    for feed in feeds:
        state = FeedState(
            source_id=feed.source_id,
            last_http_status=feed.last_http_status,
            last_error=feed.last_error,
            consecutive_failures=feed.consecutive_failures,
            last_success_at=feed.last_success_at,
            retired_at=feed.retired_at,
            gone_since=feed.gone_since,
        )
        history = histories.get(feed.source_id)
        dates = history.entry_dates if history else ()
        verdicts[feed.source_id] = judge_feed(
            state, dates, history.last_new_at if history else None, now
        )
    return verdicts


def feeds_table(
    feeds: Sequence[FeedRow], now: datetime, health: dict[str, FeedHealth] | None = None
) -> Table:
    health = health or {}
    table = Table(
        "feed", "health", "last", "fails", "last polled", "next poll", "poll every",
        "publishes every", "polls 24h", "error",
        title="Feeds", title_justify="left",
    )  # fmt: skip
    for feed in feeds:
        status = feed.last_status or ""
        if feed.last_http_status:
            status += f" {feed.last_http_status}"
        verdict = health.get(feed.source_id)
        table.add_row(
            feed.source_id if feed.enabled is not False else f"{feed.source_id} (disabled)",
            _health_cell(verdict, feed),
            status if feed.consecutive_failures == 0 else f"[red]{status}",
            _red_if(feed.consecutive_failures),
            _ago(feed.last_polled_at, now),
            "never (retired)" if feed.retired_at else _in(feed.next_poll_at, now),
            _span(feed.poll_every_s),
            _span(feed.publishes_every_s),
            str(feed.polls_24h),
            _error_cell(feed),
        )
    return table


def retired_table(feeds: Sequence[FeedRow], health: dict[str, FeedHealth]) -> Table:
    """Feeds retired by 410 Gone or lasting 404s: not polled until `sources reset`."""
    table = Table(
        "feed", "retired", "why", "bring it back with",
        title="Retired feeds (not polled)", title_justify="left",
    )  # fmt: skip
    for feed in (f for f in feeds if f.retired_at is not None):
        verdict = health.get(feed.source_id)
        why = verdict.detail.split(": ", 1)[-1].split(";", 1)[0] if verdict else ""
        table.add_row(
            feed.source_id,
            _when(feed.retired_at),
            f"[red]{why}",
            f"newswatch sources reset {feed.source_id}",
        )
    return table


def _error_cell(feed: FeedRow) -> str:
    parts = []
    if feed.last_error and feed.consecutive_failures:
        parts.append(f"[red]{feed.last_error}[/red]")
    parts += [f"[yellow]{note}[/yellow]" for note in feed.pauses]
    return "; ".join(parts)


def alerts_table(alerts: Sequence[PendingAlert]) -> Table:
    table = Table(
        "created", "rule", "kind", "channel", "tries", "next try", "last error",
        title="Pending alerts", title_justify="left",
    )  # fmt: skip
    for alert in alerts:
        table.add_row(
            _when(alert.created_at),
            alert.rule,
            alert.kind,
            alert.channel,
            str(alert.attempts),
            _when(alert.next_attempt_at),
            alert.last_error or "",
        )
    return table


def staged_table(staged: Sequence[StagedRow]) -> Table:
    table = Table(
        "batch", "run", "staged", "rows", "problem",
        title="Staged batches not loaded", title_justify="left",
    )  # fmt: skip
    for batch in staged:
        table.add_row(
            batch.name,
            batch.run_id or "",
            _when(batch.staged_at),
            str(batch.rows),
            f"[red]{batch.problem}" if batch.problem else "",
        )
    return table


def _health_cell(verdict: FeedHealth | None, feed: FeedRow | None = None) -> str:
    if feed is not None and _erring(feed, verdict):
        from newswatch.extractors.health import FAIL_AFTER

        return f"[yellow]failed {feed.consecutive_failures}/{FAIL_AFTER}"
    if verdict is None:
        return ""
    colour = {"failing": "red", "retired": "red", "quiet": "yellow"}.get(verdict.status)
    return f"[{colour}]{verdict.status}" if colour else verdict.status


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _span(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _ago(moment: datetime | None, now: datetime) -> str:
    return f"{_span(max((now - moment).total_seconds(), 0))} ago" if moment else "never"


def _in(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "now"
    left = (moment - now).total_seconds()
    return "due" if left <= 0 else f"in {_span(left)}"


def _red_if(count: int) -> str:
    return f"[red]{count}" if count else "0"
