"""``newswatch run``: one ingest run (Prefect flow) over a source list or the offline sample."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import (
    add_ingest_options,
    add_verbosity_options,
    ingest_inputs,
    keep_library_noise_out,
    settings_from_args,
)
from newswatch.core.errors import NewswatchError, PrefectApiLost
from newswatch.core.settings import DEFAULT_ALERTS, DEFAULT_SOURCES

if TYPE_CHECKING:
    from newswatch.core.summaries import IngestSummary


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="poll every source once and load what is new",
        description="Run the ingest flow once (on Prefect's ephemeral server unless "
        "PREFECT_API_URL is set) and print a summary.",
    )
    add_verbosity_options(parser, quiet=True)
    parser.add_argument(
        "--force",
        action="store_true",
        help="poll every enabled source now, ignoring cadence and failure backoff "
        "(a retired feed needs `newswatch sources reset ID`)",
    )
    add_ingest_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    check_config_files(args)
    prepare_prefect_environment()
    keep_library_noise_out(args)
    settings = settings_from_args(args)
    with ExitStack() as stack:
        stack.enter_context(single_run(settings.data_dir))
        sources, allow_private = ingest_inputs(stack, args, settings)
        # imports Prefect: keep it off `newswatch --help`
        from newswatch.flows.ingest import IngestFailed, ingest
        from newswatch.flows.prefect_api import API_TRANSPORT_ERRORS, failed_to_reach_api

        load_error: BaseException | None = None
        try:
            summary = ingest(
                sources=str(sources),
                db=str(settings.db_path),
                allow_private=allow_private,
                alerts=str(args.alerts or DEFAULT_ALERTS),
                alerts_to=list(args.alerts_to),
                catalogue=str(args.catalogue.resolve()) if args.catalogue else None,
                force=args.force,
            )
        except IngestFailed as failed:  # Failed in Prefect, with the reason; summary kept
            summary, load_error = failed.summary, failed.load_error
        except RuntimeError as exc:  # Prefect's client: "Failed to reach API at URL"
            if not failed_to_reach_api(exc):
                raise
            raise NewswatchError(
                f"{exc}. Start that server, or unset PREFECT_API_URL to run on a temporary "
                "one; nothing was fetched or written."
            ) from exc
        except API_TRANSPORT_ERRORS as exc:  # the API went away mid-run, after retries
            raise PrefectApiLost(
                f"lost the Prefect API during the run ({exc}); what was staged or loaded is "
                "kept and the next run completes it (loads are idempotent)."
            ) from exc
    print(format_summary(summary, settings.db_path))
    if load_error is not None:
        raise load_error  # the CLI's one line and exit code for it, as before
    if summary.batches_left:
        return 75  # EX_TEMPFAIL: the batch is staged, the next run loads it
    if summary.every_feed_failed:
        return 69  # EX_UNAVAILABLE: no source answered
    return 0


@contextmanager
def single_run(data_dir: Path) -> Iterator[None]:
    """Hold the warehouse's writer lock (``warehouse/writer_lock.py``) for the whole run,
    before Prefect starts: a second run, a watch tick, a backfill or ``alerts send`` on the
    same data directory makes this one exit at once (EX_TEMPFAIL, naming the holder). The
    flow takes the same lock again (re-entrant), so deployments are covered too."""
    from newswatch.warehouse.writer_lock import writer_lock

    with writer_lock(data_dir, "newswatch run"):
        yield


def check_config_files(args: argparse.Namespace) -> None:
    """Refuse a malformed sources, alerts or entities (``--catalogue``) file (ConfigError
    naming file, line and field) before Prefect starts or anything is written."""
    from newswatch.extractors.alerts import load_alert_config
    from newswatch.extractors.entities import load_catalogue
    from newswatch.extractors.sources import load_sources

    if args.sources is not None or not args.sample:
        load_sources(args.sources or DEFAULT_SOURCES)
    load_alert_config(args.alerts or DEFAULT_ALERTS)
    load_catalogue(getattr(args, "catalogue", None))


def prepare_prefect_environment() -> None:
    """Defaults for Prefect's ephemeral server; a user's own settings win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect 3.6 keeps its memo store in ~/.prefect even when PREFECT_HOME points
    # elsewhere, and warns on every start when ~/.prefect does not exist
    if home := os.environ.get("PREFECT_HOME"):
        memo = os.path.join(os.path.expanduser(home), "memo_store.toml")
        os.environ.setdefault("PREFECT_MEMO_STORE_PATH", memo)
    # the temporary server needs ~5 s on an idle machine, far more on a busy 2-core one
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def format_summary(summary: IngestSummary, db_path: Path) -> str:
    failed = summary.failed_feeds
    lines = [
        "",
        f"newswatch run {summary.run_id}  ({summary.seconds:.1f} s)",
        f"  feeds polled      {summary.feeds_polled}"
        f"  (failed {summary.feeds_failed}, unchanged {summary.feeds_unchanged}, "
        f"backing off {summary.feeds_skipped})",
        f"  new entries       {summary.new_entries}",
        f"  new articles      {summary.new_articles}"
        f"  ({summary.on_topic_articles} on-topic, {summary.stories} stories)",
        f"  mentions          {summary.mentions}",
        f"  alerts            {summary.alerts_raised} raised, {summary.alerts_sent} sent, "
        f"{summary.alerts_failed} pending retry",
        f"  database          {db_path}  ({summary.load_message})",
    ]
    if summary.feeds_polled and len(failed) == summary.feeds_polled:
        lines.append(f"  sources reachable 0/{len(failed)}: every source failed (exit 69)")
    for source_id, error in failed:
        lines.append(f"  failed feed       {source_id}: {error}")
    for error in summary.alert_errors:
        lines.append(f"  alert problem     {error}")
    return "\n".join(lines)
