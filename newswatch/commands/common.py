"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from newswatch.settings import Settings


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="DuckDB file (default: $NEWSWATCH_DB or data/newswatch.duckdb)",
    )


def settings_from_args(args: argparse.Namespace, **overrides: object) -> Settings:
    db = getattr(args, "db", None)
    values: dict[str, object] = dict(overrides)
    if db is not None:
        values["db_path"] = db
    return Settings.from_env(**values)
