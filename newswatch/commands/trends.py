"""``newswatch trends``: mentions, articles and stories of one entity over time."""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import settings_from_args
from newswatch.commands.output import OUTPUT_FORMATS, write_relation
from newswatch.commands.reading import add_reader_arguments, open_reader, refuse_warehouse_target
from newswatch.core.errors import NewswatchError

if TYPE_CHECKING:
    import duckdb


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trends = subparsers.add_parser(
        "trends",
        help="mentions, articles and stories of one entity over time",
        description="Daily or weekly series of one entity (id or name).",
    )
    trends.add_argument("entity", help="entity id or name, e.g. alabuga or 'Shahed-136'")
    trends.add_argument("--by", choices=("day", "week", "month"), default="day")
    trends.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="first day (YYYY-MM-DD; default: 90 days before the newest article)",
    )
    trends.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    trends.add_argument("--out", type=Path, default=None)
    add_reader_arguments(trends)
    trends.set_defaults(handler=handle_trends)


def handle_trends(args: argparse.Namespace) -> int:
    from newswatch.warehouse import queries

    refuse_warehouse_target(args.out, settings_from_args(args).db_path)
    with open_reader(args) as con:
        entity_id = _pick_entity(con, args.entity)
        since = args.since or _default_since(con)
        relation = queries.entity_trend(con, entity_id, bucket=args.by, since=since)
        write_relation(relation, args.format, args.out)
    return 0


def _pick_entity(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """An exact id or name, else the only entity whose id or name starts with ``text``."""
    from newswatch.warehouse import queries

    exact = queries.resolve_entity(con, text)
    if exact is not None:
        return exact
    candidates = queries.entity_candidates(con, text)
    if len(candidates) == 1:
        return candidates[0][0]
    if candidates:
        listed = ", ".join(f"{eid} ({name})" for eid, name in candidates)
        raise NewswatchError(f"{text!r} matches several entities: {listed}")
    raise NewswatchError(
        f'unknown entity {text!r}: try `newswatch sql "SELECT entity_id, name FROM entities"`'
    )


def _default_since(con: duckdb.DuckDBPyConnection) -> date:
    row = con.execute("SELECT max(published_day) FROM articles").fetchone()
    newest = row[0] if row and row[0] else date.today()
    return newest - timedelta(days=90)
