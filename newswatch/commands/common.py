"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from newswatch.core.settings import DEFAULT_ALERTS, DEFAULT_SOURCES, Settings


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
    ``--allow-private``, ``--db`` and (unless ``alerts`` is false: backfilled history
    raises none) ``--alerts`` and ``--alerts-to``."""
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
