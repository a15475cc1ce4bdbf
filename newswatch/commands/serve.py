"""``newswatch serve``: a one-process scheduler running the ingest flow daily (flow.serve).

The schedule, parameters and concurrency mirror the ``daily-ingest`` deployment of
``prefect.yaml`` (a test keeps the two in step); no work pool or worker is needed. The
deployment is registered as ``ingest/daily-ingest-serve`` so that it never replaces the
worker-based ``ingest/daily-ingest`` on the same server.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.settings import DEFAULT_SOURCES

DEPLOYMENT_NAME = "daily-ingest-serve"
DEFAULT_CRON = "0 6 * * *"  # the daily-ingest schedule of prefect.yaml
TIMEZONE = "UTC"
SCHEDULE_SLUG = "daily-0600"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="run the ingest flow on a schedule in this process (no worker needed)",
        description="Serve the ingest flow with Prefect's flow.serve: register the "
        f"deployment ingest/{DEPLOYMENT_NAME} with the server in PREFECT_API_URL (a "
        "temporary local server when unset) and run it on its cron schedule until "
        "interrupted (Ctrl-C pauses the schedule). Same schedule and parameters as the "
        "daily-ingest deployment of prefect.yaml.",
    )
    parser.add_argument(
        "--cron",
        default=DEFAULT_CRON,
        help=f'cron schedule, evaluated in {TIMEZONE} (default: "{DEFAULT_CRON}")',
    )
    parser.add_argument(
        "--sources", type=Path, default=None, help=f"source list (default: {DEFAULT_SOURCES})"
    )
    add_db_argument(parser)
    parser.set_defaults(handler=handle)


def serve_parameters(args: argparse.Namespace) -> dict[str, str]:
    """Flow parameters, as absolute paths: runs must not depend on the server's cwd."""
    settings = settings_from_args(args)
    sources = Path(args.sources or DEFAULT_SOURCES)
    return {"sources": str(sources.resolve()), "db": str(Path(settings.db_path).resolve())}


def handle(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    parameters = serve_parameters(args)
    # Prefect imports stay inside the handler: `newswatch --help` must not pay for them.
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    from flows.ingest import ingest

    print(
        f"Serving ingest/{DEPLOYMENT_NAME}: cron {args.cron!r} ({TIMEZONE}), "
        f"sources {parameters['sources']}, db {parameters['db']}"
    )
    ingest.serve(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(args.cron, timezone=TIMEZONE, slug=SCHEDULE_SLUG)],
        parameters=parameters,
        description="Poll every source once a day and load what is new into DuckDB "
        "(served by `newswatch serve`).",
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        limit=1,
    )
    return 0
