"""``newswatch search``: full-text search (BM25) over article titles and text."""

from __future__ import annotations

import argparse
from pathlib import Path

from newswatch.commands.common import settings_from_args
from newswatch.commands.output import OUTPUT_FORMATS, write_rows
from newswatch.commands.reading import add_reader_arguments, open_reader, refuse_warehouse_target
from newswatch.core.errors import WarehouseError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    find = subparsers.add_parser(
        "search",
        help="full-text search (BM25) over article titles and text",
        description="Search article titles and text with DuckDB FTS (BM25).",
    )
    find.add_argument("text", help="words to look for")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    find.add_argument("--out", type=Path, default=None)
    add_reader_arguments(find)
    find.set_defaults(handler=handle_search)


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
