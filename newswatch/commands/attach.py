"""``newswatch attach``: the SQL that opens the warehouse from any DuckDB client."""

from __future__ import annotations

import argparse

from newswatch.commands.common import settings_from_args
from newswatch.commands.reading import add_reader_arguments


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
    add_reader_arguments(parser)  # --db, --live: as every reading command spells them
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.warehouse.attach import reader_statements

    for statement in reader_statements(settings_from_args(args).db_path, live=args.live):
        print(f"{statement};")
    return 0
