"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
import os
import warnings
from contextlib import ExitStack
from pathlib import Path

from newswatch.core.settings import DEFAULT_ALERTS, DEFAULT_ENTITIES, DEFAULT_SOURCES, Settings


def add_db_argument(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: $NEWSWATCH_DB, else $NEWSWATCH_HOME/newswatch.duckdb, "
        "else data/newswatch.duckdb in the newswatch checkout, else "
        "~/.local/share/newswatch/newswatch.duckdb)",
    )


def add_ingest_options(parser: argparse.ArgumentParser, *, alerts: bool = True) -> None:
    """The options every command that ingests accepts, spelled and defaulted the same in
    ``run``, ``serve``, ``watch`` and ``backfill``: ``--sample``, ``--sources``,
    ``--allow-private``, ``--db``, ``--catalogue`` and (unless ``alerts`` is false:
    backfilled history raises none) ``--alerts`` and ``--alerts-to``."""
    group = parser.add_argument_group(
        "sources and database (the same in run, serve, watch, backfill)"
    )
    group.add_argument(
        "--sample",
        action="store_true",
        help="serve the bundled offline sample on 127.0.0.1 for as long as this command "
        "runs, and use it as the source list (its host is added to --allow-private)",
    )
    group.add_argument(
        "--sources",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"source list (default: {DEFAULT_SOURCES}; with --sample, the sample's)",
    )
    group.add_argument(
        "--allow-private",
        action="append",
        default=[],
        metavar="HOST",
        help="allow this private/loopback host or network despite the SSRF guard "
        "(repeatable; default: $NEWSWATCH_ALLOW_PRIVATE)",
    )
    add_db_argument(group)
    if alerts:
        group.add_argument(
            "--alerts",
            type=Path,
            default=None,
            metavar="FILE",
            help=f"alert rules (default: {DEFAULT_ALERTS})",
        )
        group.add_argument(
            "--alerts-to",
            action="append",
            default=[],
            metavar="URL",
            help="also send every rule's alerts to this apprise URL or file://PATH "
            "(JSON lines) (repeatable)",
        )
    add_catalogue_argument(group)


def add_catalogue_argument(parser: argparse._ActionsContainer) -> None:
    """``--catalogue FILE``: the entity catalogue to match with (``entities`` and the
    commands that run the ingest flow)."""
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"entity catalogue TOML (default: {DEFAULT_ENTITIES})",
    )


def add_verbosity_options(parser: argparse.ArgumentParser, *, quiet: bool = False) -> None:
    """``--verbose`` (and with ``quiet``, ``--quiet``) for the commands that run flows."""
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show Prefect's log lines (server start, one per task) and library warnings",
    )
    if quiet:
        parser.add_argument(
            "--quiet", action="store_true", help="only the summary and errors (no warnings)"
        )


def keep_library_noise_out(args: argparse.Namespace) -> None:
    """What a flow-running command prints by default: its own lines and Prefect's warnings
    and errors; Prefect's INFO lines (the temporary server, one per task run) and library
    warnings (pydantic's deprecation notes) only with ``--verbose``. Only the console is
    quieted: the Prefect API still receives every log line. Flow-run subprocesses (watch,
    serve) inherit it through the environment; a user's own setting wins."""
    if getattr(args, "verbose", False):
        return
    level = "ERROR" if getattr(args, "quiet", False) else "WARNING"
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", level)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.simplefilter("ignore")


def settings_from_args(args: argparse.Namespace, **overrides: object) -> Settings:
    db = getattr(args, "db", None)
    values: dict[str, object] = dict(overrides)
    if db is not None:
        values["db_path"] = db
    return Settings.from_env(None, **values)


def ingest_inputs(
    stack: ExitStack, args: argparse.Namespace, settings: Settings
) -> tuple[Path, list[str]]:
    """The source list and SSRF allow-list an ingesting command runs with: with
    ``--sample``, the sample is served (until ``stack`` closes) and its host allowed."""
    from newswatch.sample import sources_for_run

    sources, sample_hosts = sources_for_run(
        stack,
        sample=args.sample,
        sources=args.sources,
        default=DEFAULT_SOURCES,
        data_dir=settings.data_dir,
    )
    return sources, [*args.allow_private, *sample_hosts]
