"""``newswatch migrate-to-lake``: a DuckDB-file warehouse copied into a new lake, checked.

``warehouse/lake_migrate.py`` does the work: every table in one lake commit, then row
counts and an order-free content hash per table compared and printed; the old file is
only read, and kept. Exit 1 when a table differs (the lake is left for inspection).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from newswatch.commands.common import add_db_argument, settings_from_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "migrate-to-lake",
        help="copy a DuckDB-file warehouse into a new lake, comparing rows and hashes",
        description="Copy every table of the warehouse file (--db) into a new DuckLake "
        "(--to PATH.lake.sqlite, its Parquet files beside it) in one commit, then compare "
        "each table's row count and content hash (order-free) and print them; build the "
        "lake's search index. The old file is read-only and kept. A lake that already "
        "holds rows is refused. Then use --db PATH.lake.sqlite everywhere.",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--to",
        type=Path,
        required=True,
        metavar="PATH.lake.sqlite",
        help="the new lake's SQLite catalog (created; its data folder beside it)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.warehouse.lake_migrate import migrate_to_lake

    report = migrate_to_lake(settings_from_args(args).db_path, args.to)
    print("\n".join(report.lines()))
    if not report.same:
        different = ", ".join(t.table for t in report.tables if not t.same)
        print(f"newswatch migrate-to-lake: tables differ: {different}")
        return 1
    print(f"migrated: use --db {report.target}")
    return 0
