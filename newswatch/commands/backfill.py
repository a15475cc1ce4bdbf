"""``newswatch backfill``: load history listed by the sources' sitemaps (Prefect flow)."""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import add_ingest_options, ingest_inputs, settings_from_args
from newswatch.core.settings import DEFAULT_SOURCES

if TYPE_CHECKING:
    from newswatch.core.summaries import BackfillSummary


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backfill",
        help="load past articles listed by the sources' sitemaps",
        description="Read each source's sitemap (or news sitemap / sitemap index), keep the "
        "pages dated in [--since, --until] (undated pages are kept too), skip those already "
        "stored, then fetch, extract, match and load them in batches. Resumable: re-run "
        "after an interruption. Backfilled history raises no alerts.",
    )
    parser.add_argument("--since", required=True, help="first day to load (YYYY-MM-DD, UTC)")
    parser.add_argument("--until", default=None, help="last day to load (default: today)")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="ID",
        help="only this source (repeatable; default: every enabled source with a sitemap)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, metavar="N", help="pages per batch (default 100)"
    )
    parser.add_argument(
        "--dask",
        action="store_true",
        help="extract on a Dask cluster (prefect-dask; a local one unless --dask-address)",
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=2,
        metavar="N",
        help="worker processes of the local Dask cluster (default 2)",
    )
    parser.add_argument(
        "--dask-address",
        default=None,
        metavar="tcp://HOST:PORT",
        help="use this running Dask scheduler instead of a local cluster (implies --dask)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    add_ingest_options(parser, alerts=False)  # backfilled history raises no alerts
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.commands.run import prepare_prefect_environment
    from newswatch.extractors.sources import load_sources

    since, until = validated_days(args)
    if args.batch_size < 1 or args.dask_workers < 1:
        from newswatch.core.errors import ConfigError

        raise ConfigError("--batch-size and --dask-workers must be at least 1")
    if args.sources is not None or not args.sample:
        load_sources(args.sources or DEFAULT_SOURCES)  # a malformed file fails before Prefect
    from newswatch.extractors.entities import load_catalogue

    load_catalogue(args.catalogue)  # so does a malformed --catalogue
    prepare_prefect_environment()
    if args.quiet:
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    settings = settings_from_args(args)
    with ExitStack() as stack:
        sources, allow_private = ingest_inputs(stack, args, settings)
        from newswatch.flows.backfill import run_backfill  # imports Prefect: keep it off --help

        summary = run_backfill(
            dask=args.dask,
            dask_workers=args.dask_workers,
            dask_address=args.dask_address,
            since=since,
            until=until,
            sources=str(sources),
            source_ids=list(args.source) or None,
            db=str(settings.db_path),
            allow_private=allow_private,
            batch_size=args.batch_size,
            progress=not args.quiet,
            catalogue=str(args.catalogue.resolve()) if args.catalogue else None,
        )
    print(format_summary(summary, settings.db_path))
    return 75 if summary.batches_left else 0


def validated_days(args: argparse.Namespace) -> tuple[str, str | None]:
    from newswatch.extractors.sitemap_crawl import parse_day

    since = parse_day(args.since)
    if args.until is not None and parse_day(args.until, end_of_day=True) < since:
        from newswatch.core.errors import ConfigError

        raise ConfigError(f"--until {args.until} is before --since {args.since}")
    return args.since, args.until


def format_summary(summary: BackfillSummary, db_path: Path) -> str:
    lines = [
        "",
        f"newswatch backfill  ({summary.seconds:.1f} s, extraction {summary.extraction})",
        f"  sitemaps read     {summary.sitemaps_read} from {summary.sources} source(s)",
        f"  URLs listed       {summary.urls_listed}  ({summary.urls_in_range} in range, "
        f"{summary.undated_kept} of them undated; {summary.already_stored} already stored)",
        f"  pages fetched     {summary.pages_to_fetch}  ({summary.pages_failed} failed) "
        f"in {summary.batches} batch(es)",
        f"  articles added    {summary.articles_added}  ({summary.on_topic_articles} "
        f"on-topic, {summary.mentions_added} mentions); no alerts for history",
        f"  database          {db_path}",
    ]
    lines += [f"  sitemap problem   {error}" for error in summary.sitemap_errors]
    return "\n".join(lines)
