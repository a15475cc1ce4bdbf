"""Analyst commands on the warehouse: ``sql``, ``trends``, ``search``, ``export``.

They read the snapshot published after each load (so an open analyst session never blocks
the scheduled run); ``--live`` reads the main database instead, read-only, for one query.
User input is never formatted into SQL: ``sql`` runs the user's own query on a read-only
connection cut off from the file system, queries only (``newswatch.warehouse.shell``), and writes
its result from Python, only to ``--out``; the other commands bind every value as a parameter.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.core.errors import NewswatchError, WarehouseError
from newswatch.core.settings import default_snapshot_path, missing_database_message
from newswatch.warehouse.export import FORMATS  # no duckdb import: keeps `--help` light

if TYPE_CHECKING:
    import duckdb

# The handlers import DuckDB and the warehouse modules themselves, so parsing arguments
# (and `newswatch --help`) does not pay for them.

OUTPUT_FORMATS = ("table", "csv", "json", "parquet")
_REFUSED_MARKERS = (
    "disabled by configuration",
    "configuration has been locked",
    "read-only mode",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sql = subparsers.add_parser(
        "sql",
        help="run a read-only SQL query on the warehouse",
        description="Run QUERY on a read-only connection to the snapshot (default) or the "
        "live database (--live), cut off from the file system: it cannot write, attach, "
        "read other files or load extensions; --out writes the result. Trend macros: see "
        "docs/QUERIES.md.",
    )
    sql.add_argument("query", help='the SQL query, e.g. "SELECT * FROM stories LIMIT 5"')
    sql.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    sql.add_argument("--out", type=Path, default=None, help="write to FILE instead of stdout")
    sql.add_argument(
        "--allow-read",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="let the query read files under DIR, e.g. read_csv('DIR/list.csv') "
        "(repeatable; by default it reads the warehouse only)",
    )
    _add_reader_arguments(sql)
    sql.set_defaults(handler=handle_sql)

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
    _add_reader_arguments(trends)
    trends.set_defaults(handler=handle_trends)

    find = subparsers.add_parser(
        "search",
        help="full-text search (BM25) over article titles and text",
        description="Search article titles and text with DuckDB FTS (BM25).",
    )
    find.add_argument("text", help="words to look for")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    find.add_argument("--out", type=Path, default=None)
    _add_reader_arguments(find)
    find.set_defaults(handler=handle_search)

    export = subparsers.add_parser(
        "export",
        help="write every table to Parquet or CSV files",
        description="Write each warehouse table to DIR/<table>.<format>.",
    )
    export.add_argument("--format", choices=FORMATS, default="parquet")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    _add_reader_arguments(export)
    export.set_defaults(handler=handle_export)


def _add_reader_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument(
        "--live",
        action="store_true",
        help="read the main database (read-only) instead of the published snapshot",
    )


@contextmanager
def open_reader(
    args: argparse.Namespace, *, sealed: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the snapshot, or to the live file with ``--live``;
    ``sealed`` also cuts it off from the file system (for the user's own statements)."""
    from newswatch.warehouse import search
    from newswatch.warehouse.db import connect, lock_down

    settings = settings_from_args(args)
    db_path = settings.db_path
    path = db_path
    if not args.live:
        snapshot = default_snapshot_path(db_path)
        if snapshot.exists():
            path = snapshot
        elif db_path.exists():
            print(f"newswatch: no snapshot at {snapshot}; reading {db_path}", file=sys.stderr)
    if not path.exists():
        raise WarehouseError(missing_database_message(settings))
    con = connect(path, read_only=True, lock_timeout=10.0)
    try:
        search.load_extension(con)
        if sealed:
            lock_down(con, readable=getattr(args, "allow_read", ()))
        yield con
    finally:
        con.close()


def handle_sql(args: argparse.Namespace) -> int:
    import duckdb

    from newswatch.warehouse import shell

    settings = settings_from_args(args)
    refuse_warehouse_target(args.out, settings.db_path)
    with open_reader(args, sealed=True) as con:
        shell.check_query(con, args.query)
        try:
            relation = con.sql(args.query)
            if relation is None:
                print("newswatch: the statement returned no rows", file=sys.stderr)
                return 0
            write_relation(relation, args.format, args.out)
        except duckdb.Error as exc:
            raise NewswatchError(_query_failure(exc)) from exc
    return 0


def _query_failure(exc: duckdb.Error) -> str:
    import duckdb

    from newswatch.warehouse import shell

    text = str(exc)
    if isinstance(exc, duckdb.PermissionException) or any(
        marker in text for marker in _REFUSED_MARKERS
    ):
        return f"query refused: {text.rstrip('.!')}. {shell.LIMITS}"
    return f"query failed: {text}"


def refuse_warehouse_target(out: Path | None, db_path: Path) -> None:
    """``--out`` may name any file except the warehouse, its snapshot or their WAL files."""
    if out is None:
        return
    target = Path(os.path.abspath(out))
    protected = {db_path, default_snapshot_path(db_path)}
    protected |= {p.with_name(p.name + ".wal") for p in protected}
    if target in protected or (
        target.exists() and any(p.exists() and target.samefile(p) for p in protected)
    ):
        raise NewswatchError(f"refusing to write over the warehouse: --out {out} is {target}")


def handle_trends(args: argparse.Namespace) -> int:
    from newswatch.warehouse import queries

    refuse_warehouse_target(args.out, settings_from_args(args).db_path)
    with open_reader(args) as con:
        entity_id = _pick_entity(con, args.entity)
        since = args.since or _default_since(con)
        relation = queries.entity_trend(con, entity_id, bucket=args.by, since=since)
        write_relation(relation, args.format, args.out)
    return 0


def handle_search(args: argparse.Namespace) -> int:
    from newswatch.warehouse import search

    refuse_warehouse_target(args.out, settings_from_args(args).db_path)
    with open_reader(args) as con:
        if not search.has_index(con):
            raise WarehouseError(
                "no search index here: it is built on the snapshot after each load "
                "(drop --live, or run a load first)"
            )
        hits = search.search(con, args.text, limit=args.limit)
    columns = ["score", "published_day", "outlet", "title", "url"]
    rows = [(round(h.score, 3), h.published_day, h.outlet, h.title, h.url) for h in hits]
    write_rows(columns, rows, args.format, args.out)
    return 0


def handle_export(args: argparse.Namespace) -> int:
    from newswatch.warehouse.export import export_tables

    with open_reader(args) as con:
        written = export_tables(con, args.out, fmt=args.format)
    for name, path in written.items():
        print(f"{name}\t{path}")
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


def write_relation(relation: duckdb.DuckDBPyRelation, fmt: str, out: Path | None) -> None:
    """Print or write a query result as a table, CSV, JSON (array of objects) or Parquet.

    Files are written from Python (pyarrow, csv, json), never by DuckDB, so this works on a
    connection that ``lock_down`` cut off from the file system."""
    if fmt == "parquet":
        if out is None:
            raise NewswatchError("--format parquet needs --out FILE")
        import pyarrow.parquet as pq

        pq.write_table(relation.to_arrow_table(), out)
        return
    write_rows(list(relation.columns), relation.fetchall(), fmt, out)


def write_rows(
    columns: list[str], rows: Sequence[tuple[object, ...]], fmt: str, out: Path | None
) -> None:
    if fmt == "parquet":
        if out is None:
            raise NewswatchError("--format parquet needs --out FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [dict(zip(columns, row, strict=True)) for row in rows]
        pq.write_table(pa.Table.from_pylist(records), out)
        return
    if out is None:
        _write_text(columns, rows, fmt, sys.stdout)
        return
    with open(out, "w", encoding="utf-8", newline="") as handle:
        _write_text(columns, rows, fmt, handle)


def _write_text(
    columns: list[str], rows: Sequence[tuple[object, ...]], fmt: str, stream: TextIO
) -> None:
    if fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        json.dump(records, stream, ensure_ascii=False, indent=1, default=str)
        stream.write("\n")
    else:
        _write_table(columns, rows, stream)


def _write_table(columns: list[str], rows: Sequence[tuple[object, ...]], stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(file=stream, width=max(80, min(200, 24 * len(columns)))).print(table)
    stream.write(f"{len(rows)} row(s)\n")
