"""``newswatch sql`` and ``newswatch export``: the analyst's own query, and every table out.

User input is never formatted into SQL: ``sql`` runs the user's own query on a read-only
connection cut off from the file system, queries only (``newswatch.warehouse.shell``), and
writes its result from Python, only to ``--out`` (``newswatch.commands.output``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import settings_from_args
from newswatch.commands.output import OUTPUT_FORMATS, write_relation
from newswatch.commands.reading import add_reader_arguments, open_reader, refuse_warehouse_target
from newswatch.core.errors import NewswatchError
from newswatch.warehouse.export import FORMATS  # no duckdb import: keeps `--help` light

if TYPE_CHECKING:
    import duckdb

# The handlers import DuckDB and the warehouse modules themselves, so parsing arguments
# (and `newswatch --help`) does not pay for them.

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
    add_reader_arguments(sql)
    sql.set_defaults(handler=handle_sql)

    export = subparsers.add_parser(
        "export",
        help="write every table to Parquet or CSV files",
        description="Write each warehouse table to DIR/<table>.<format>.",
    )
    export.add_argument("--format", choices=FORMATS, default="parquet")
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    add_reader_arguments(export)
    export.set_defaults(handler=handle_export)


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


def handle_export(args: argparse.Namespace) -> int:
    from newswatch.warehouse.export import export_tables

    with open_reader(args) as con:
        written = export_tables(con, args.out, fmt=args.format)
    for name, path in written.items():
        print(f"{name}\t{path}")
    return 0
