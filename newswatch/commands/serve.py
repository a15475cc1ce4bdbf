"""``newswatch serve``: a one-process scheduler running the ingest flow daily (flow.serve).

The schedule, parameters and concurrency mirror the ``daily-ingest`` deployment of
``prefect.yaml`` (a test keeps the two in step); no work pool or worker is needed. The
deployment is registered as ``ingest/daily-ingest-serve`` so that it never replaces the
worker-based ``ingest/daily-ingest`` on the same server.

It takes the same source, database, alert and catalogue options as ``run``
(``--sample``, ``--sources``, ``--allow-private``, ``--db``, ``--alerts``, ``--alerts-to``,
``--catalogue``); they become the served deployment's parameters, so every scheduled run
gets them. With ``--sample`` the offline sample is served on 127.0.0.1 by this process for
as long as it runs.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from pathlib import Path

from newswatch.commands.common import add_ingest_options, ingest_inputs, settings_from_args
from newswatch.core.errors import ConfigError, NewswatchError
from newswatch.core.settings import DEFAULT_SOURCES

DEPLOYMENT_NAME = "daily-ingest-serve"
DEFAULT_CRON = "0 6 * * *"  # the daily-ingest schedule of prefect.yaml
TIMEZONE = "UTC"
SCHEDULE_SLUG = "daily-0600"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_ingest_options(parser)
    parser.set_defaults(handler=handle)


def check_cron(expression: str) -> None:
    """A ConfigError (one line) for a cron string Prefect would refuse, before it starts."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=expression, timezone=TIMEZONE)
    except ValidationError:
        raise ConfigError(
            f"--cron {expression!r} is not a cron schedule: five fields, minute hour "
            'day-of-month month day-of-week, e.g. "0 6 * * *" (06:00 daily) or "*/15 * * * *"'
        ) from None


def serve_parameters(
    args: argparse.Namespace,
    sources: Path | None = None,
    extra_private: list[str] | None = None,
) -> dict[str, object]:
    """The served deployment's flow parameters. Paths are absolute (runs must not depend on
    the server's cwd); the optional ones appear only when given, so the defaults match the
    daily-ingest deployment's parameters."""
    settings = settings_from_args(args)
    sources = sources or Path(getattr(args, "sources", None) or DEFAULT_SOURCES)
    parameters: dict[str, object] = {
        "sources": str(sources.resolve()),
        "db": str(Path(settings.db_path).resolve()),
    }
    allow_private = [*getattr(args, "allow_private", []), *(extra_private or [])]
    if allow_private:
        parameters["allow_private"] = list(dict.fromkeys(allow_private))
    if getattr(args, "alerts", None) is not None:
        parameters["alerts"] = str(Path(args.alerts).resolve())
    if getattr(args, "alerts_to", None):
        parameters["alerts_to"] = list(args.alerts_to)
    if getattr(args, "catalogue", None) is not None:
        parameters["catalogue"] = str(Path(args.catalogue).resolve())
    return parameters


def handle(args: argparse.Namespace) -> int:
    from newswatch.commands.run import check_config_files, prepare_prefect_environment
    from newswatch.flows.prefect_api import API_TRANSPORT_ERRORS, failed_to_reach_api

    check_cron(args.cron)
    check_config_files(args)  # a malformed sources/alerts file fails before Prefect starts
    prepare_prefect_environment()
    settings = settings_from_args(args)
    with ExitStack() as stack:
        sources, allow_private = ingest_inputs(stack, args, settings)
        parameters = serve_parameters(args, sources, allow_private)
        unreachable: tuple[type[BaseException], ...] = (*API_TRANSPORT_ERRORS, RuntimeError)
        try:
            _serve(args.cron, parameters)
        except unreachable as exc:
            # RuntimeError: Prefect's client "Failed to reach API at URL"
            if isinstance(exc, RuntimeError) and not failed_to_reach_api(exc):
                raise
            raise NewswatchError(
                f"cannot reach the Prefect API at {_api_url()} ({exc}). Start that server "
                "(`prefect server start`), or unset PREFECT_API_URL to serve on a temporary "
                "one; nothing was registered."
            ) from exc
    return 0


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or "(a temporary server)")


def _serve(cron: str, parameters: dict[str, object]) -> None:
    # Prefect imports stay here: `newswatch --help` must not pay for them.
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    from newswatch.flows.ingest import ingest

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    extras = "".join(
        f", {name} {parameters[name]}"
        for name in ("allow_private", "alerts", "alerts_to", "catalogue")
        if name in parameters
    )
    print(
        f"Serving ingest/{DEPLOYMENT_NAME}: cron {cron!r} ({TIMEZONE}), "
        f"sources {parameters['sources']}, db {parameters['db']}{extras}",
        flush=True,
    )
    ingest.serve(
        name=DEPLOYMENT_NAME,
        schedules=[Cron(cron, timezone=TIMEZONE, slug=SCHEDULE_SLUG)],
        parameters=parameters,
        description="Poll every source once a day and load what is new into DuckDB "
        "(served by `newswatch serve`).",
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        limit=1,
    )
