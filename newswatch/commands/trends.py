"""``newswatch trends``: mentions, articles and stories of one entity over time."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import settings_from_args
from newswatch.commands.output import OUTPUT_FORMATS, write_relation
from newswatch.commands.reading import add_reader_arguments, open_reader, refuse_warehouse_target
from newswatch.core.errors import NewswatchError

if TYPE_CHECKING:
    import duckdb

    from newswatch.warehouse.queries import EntityMatch, TrendWindow

DEFAULT_DAYS = 90
# The migration that made the series dense and the names resolve through aliases.
DENSE_SERIES_MIGRATION = 8
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}

EPILOG = f"""\
ENTITY is an entity id, name or alias, in any case and any script the catalogue spells it
in (alabuga-sez, "Alabuga Special Economic Zone", Алабуга, آلابوگا), else the start of one
id, name or alias. Aliases are those recorded on stored mentions: a catalogue alias no
article has matched yet is not known to the warehouse (the SQL macros resolve names the
same way: docs/QUERIES.md).

Every period from the one holding --since to the one holding --until is printed, 0 where
nothing mentioned the entity; periods are counted whole (--since is moved back to the
first day of its week or month). --since defaults to {DEFAULT_DAYS} days before the newest
article, --until to the newest article's day.

stdout holds the series only (table, CSV, JSON or, with --out, Parquet); one line on stderr
says which entity the name resolved to and the window, e.g.
  alabuga-sez (Alabuga Special Economic Zone; alias "Алабуга"): weekly, 2026-08-17 .. \
2026-11-20, 14 weeks; default window: {DEFAULT_DAYS} days before the newest article \
(2026-11-20) to it
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trends = subparsers.add_parser(
        "trends",
        help="mentions, articles and stories of one entity over time",
        description="Daily, weekly or monthly series of one entity: every period of the "
        "window, zeros included.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trends.add_argument("entity", help="entity id, name or alias, e.g. alabuga-sez or Алабуга")
    trends.add_argument("--by", choices=("day", "week", "month"), default="day")
    trends.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help=f"first day (YYYY-MM-DD; default: {DEFAULT_DAYS} days before the newest article)",
    )
    trends.add_argument(
        "--until",
        type=date.fromisoformat,
        default=None,
        help="last day, inclusive (YYYY-MM-DD; default: the newest article's day)",
    )
    trends.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    trends.add_argument("--out", type=Path, default=None)
    add_reader_arguments(trends)
    trends.set_defaults(handler=handle_trends)


def handle_trends(args: argparse.Namespace) -> int:
    from newswatch.warehouse import queries

    refuse_warehouse_target(args.out, settings_from_args(args).db_path)
    with open_reader(args) as con:
        _require_dense_series(con)
        match = _pick_entity(con, args.entity)
        newest = _newest_day(con)
        since = args.since or (newest or date.today()) - timedelta(days=DEFAULT_DAYS)
        window = queries.trend_window(con, bucket=args.by, since=since, until=args.until)
        relation = queries.entity_trend(
            con, match.entity_id, bucket=args.by, since=since, until=args.until
        )
        print(_window_line(match, args, window, since, newest), file=sys.stderr)
        write_relation(relation, args.format, args.out)
    return 0


def _require_dense_series(con: duckdb.DuckDBPyConnection) -> None:
    """A file last written by an older newswatch has the old macros until a writer opens it."""
    from newswatch.warehouse import migrations
    from newswatch.warehouse.lake import is_lake_connection

    if is_lake_connection(con):  # a lake's macros are created from the current code
        return
    if DENSE_SERIES_MIGRATION not in migrations.applied_versions(con):
        raise NewswatchError(
            "this database predates dense trend series (schema migration "
            f"{DENSE_SERIES_MIGRATION}): run `newswatch run` once to upgrade it (the next "
            "load migrates the file and publishes a new snapshot)"
        )


def _pick_entity(con: duckdb.DuckDBPyConnection, text: str) -> EntityMatch:
    """The entity ``text`` names (id, name or recorded alias, any case), else the only entity
    whose id, name or recorded alias starts with ``text``."""
    from newswatch.warehouse import queries

    exact = queries.entity_matches(con, text)
    if len(exact) == 1:
        return exact[0]
    if exact:
        listed = ", ".join(f"{m.entity_id} ({m.name})" for m in exact)
        raise NewswatchError(f"{text!r} names several entities: {listed}")
    candidates = queries.entity_candidates(con, text)
    if len(candidates) == 1:
        entity_id, name = candidates[0]
        return queries.EntityMatch(entity_id, name, "prefix", text)
    if candidates:
        listed = ", ".join(f"{eid} ({name})" for eid, name in candidates)
        raise NewswatchError(f"{text!r} matches several entities: {listed}")
    raise NewswatchError(_unknown_message(con, text))


def _unknown_message(con: duckdb.DuckDBPyConnection, text: str) -> str:
    message = f'unknown entity {text!r}: try `newswatch sql "SELECT entity_id, name FROM entities"`'
    owner = _catalogue_owner(text)
    if owner is None:
        return message
    known = con.execute("SELECT 1 FROM entities WHERE entity_id = $id", {"id": owner}).fetchone()
    if not known:
        return message
    return (
        f"unknown entity {text!r}: the catalogue lists it as an alias of {owner}, but no "
        "stored article has matched that spelling yet, and the warehouse knows only the "
        f"aliases its articles matched: try `newswatch trends {owner}`"
    )


def _catalogue_owner(text: str) -> str | None:
    """The id of the bundled catalogue's entity ``text`` is an alias of (as the matcher
    normalises aliases), for the error message only."""
    from newswatch.core.errors import ConfigError
    from newswatch.extractors.entities import load_catalogue
    from newswatch.extractors.normalize import normalize_alias

    try:
        catalogue = load_catalogue()
    except ConfigError:
        return None
    wanted = normalize_alias(text)
    for entity in catalogue.entities:
        spellings = (entity.name, *entity.aliases, *entity.case_sensitive_aliases)
        if any(normalize_alias(s) == wanted for s in spellings):
            return entity.id
    return None


def _newest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    row = con.execute("SELECT max(published_day) FROM articles").fetchone()
    return row[0] if row and row[0] else None


def _window_line(
    match: EntityMatch,
    args: argparse.Namespace,
    window: TrendWindow,
    since: date,
    newest: date | None,
) -> str:
    named = match.name if match.name != match.entity_id else ""
    if match.matched_as in {"alias", "prefix"}:
        said = f'{match.matched_as} "{match.matched}"'
        named = f"{named}; {said}" if named else said
    who = f"{match.entity_id} ({named})" if named else match.entity_id
    if window.last_day is None:
        return f"{who}: no articles in the database yet, so no periods"
    unit = args.by if window.periods == 1 else f"{args.by}s"
    line = (
        f"{who}: {_ADJECTIVE[args.by]}, {window.first_day} .. {window.last_day}, "
        f"{window.periods} {unit}"
    )
    if args.since is None and args.until is None:
        note = f"default window: {DEFAULT_DAYS} days before the newest article ({newest}) to it"
    elif args.since is None:
        note = f"--since default: {DEFAULT_DAYS} days before the newest article ({newest})"
    elif args.until is None:
        note = f"--until default: the newest article ({newest})"
    else:
        note = ""
    if args.since is not None and window.first_day != since:
        moved = f"--since {since} moved back to the first day of its {args.by}"
        note = f"{note}; {moved}" if note else moved
    return f"{line}; {note}" if note else line
