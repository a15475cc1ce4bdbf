"""``newswatch attach``: the SQL that opens the warehouse from any DuckDB client."""

from __future__ import annotations

import argparse

from newswatch.commands.common import add_db_argument, settings_from_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "attach",
        help="print the SQL that opens the warehouse read-only in the duckdb CLI or a notebook",
        description="Print the statements (one per line) that open this warehouse read-only "
        "from any DuckDB client, with every extension loaded from its installed wheel by "
        "path (nothing is downloaded): a lake (--db *.lake.sqlite) is attached live and "
        "never blocks a load; a DuckDB file through its published snapshot (--live: the "
        "main file, which a load then waits for). E.g. `duckdb -init <(newswatch attach)`.",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--live",
        action="store_true",
        help="a DuckDB-file warehouse: attach the main file instead of the snapshot",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.warehouse.attach import reader_statements

    for statement in reader_statements(settings_from_args(args).db_path, live=args.live):
        print(f"{statement};")
    return 0
