"""``newswatch search``: full-text search (BM25) over article titles and text, with phrases,
prefixes and filters; each hit printed whole (full URL, article and story ids) so it can be
handed to ``newswatch why``."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from newswatch.commands.common import settings_from_args
from newswatch.commands.output import OUTPUT_FORMATS, write_rows
from newswatch.commands.reading import add_reader_arguments, open_reader, refuse_warehouse_target
from newswatch.core.errors import NewswatchError, WarehouseError

if TYPE_CHECKING:
    import duckdb

    from newswatch.warehouse.search import SearchHit

COLUMNS = [
    "rank",
    "score",
    "article_id",
    "story_id",
    "published_day",
    "outlet",
    "source_id",
    "language",
    "title",
    "url",
    "snippet",
]

QUERY_HELP = """\
query syntax:
  shahed drones        any of the words, best BM25 score first (words are stemmed:
                       "drones" finds "drone")
  "ghost fleet"        this phrase only: case-insensitive, whole words, any whitespace
                       between them ("ghost fleets" or "ghost-fleet" do not match)
  alab*                a word starting with "alab" (at least 2 characters before the *);
                       it ranks by the index terms it expands to (the 200 most frequent)
                       and a hit must contain such a word
  Mix them: "ghost fleet" tanker* Iran. Bare words only rank; every phrase and every
  prefix must occur in the title or the text. Quote the query for the shell:
  newswatch search '"ghost fleet"'.

output:
  table (default): one block per hit, nothing cut: title; outlet, day, language, score;
  article id and story id (pass the id to `newswatch why ID`); the full URL; a snippet
  with the matches in [brackets] (bold on a terminal). csv/json/parquet: the same fields,
  one row per hit, the snippet with [brackets]."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    find = subparsers.add_parser(
        "search",
        help="full-text search (BM25) over article titles and text",
        description=(
            "Search article titles and text with DuckDB FTS (BM25) on the snapshot: words, "
            '"quoted phrases" and prefix* words, filtered by entity, outlet, language, day.'
        ),
        epilog=QUERY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    find.add_argument("text", metavar="QUERY", help='words, "phrases" and prefix* words')
    find.add_argument(
        "--entity", default=None, help="only articles mentioning this entity (id, name or alias)"
    )
    find.add_argument(
        "--outlet",
        action="append",
        default=[],
        help="only this outlet (name or source id, any case; repeat for several)",
    )
    find.add_argument(
        "--language",
        action="append",
        default=[],
        help="only this language code, e.g. en, ru, fa (repeat for several)",
    )
    find.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        help="only articles published on or after this day (YYYY-MM-DD)",
    )
    find.add_argument("--limit", type=_positive_int, default=20, help="hits to show (20)")
    find.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    find.add_argument("--out", type=Path, default=None)
    add_reader_arguments(find)
    find.set_defaults(handler=handle_search)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def handle_search(args: argparse.Namespace) -> int:
    from newswatch.warehouse import search
    from newswatch.warehouse.search_syntax import QueryError, parse_query

    refuse_warehouse_target(args.out, settings_from_args(args).db_path)
    try:
        query = parse_query(args.text, strict=True)
    except QueryError as exc:
        raise NewswatchError(str(exc)) from exc
    with open_reader(args) as con:
        if not search.has_index(con):
            raise WarehouseError(
                "no search index here: it is built on the snapshot after each load "
                "(drop --live, or run a load first)"
            )
        filters = search.SearchFilters(
            entity_id=_pick_entity(con, args.entity) if args.entity else None,
            outlets=tuple(args.outlet),
            languages=tuple(args.language),
            since=args.since,
        )
        hits = search.search(con, query, limit=args.limit, filters=filters)
    if args.format == "table":
        if args.out is None:
            write_blocks(hits, sys.stdout, terminal=sys.stdout.isatty())
        else:
            with open(args.out, "w", encoding="utf-8") as handle:
                write_blocks(hits, handle, terminal=False)
        return 0
    write_rows(
        COLUMNS, [_row(rank, hit) for rank, hit in enumerate(hits, 1)], args.format, args.out
    )
    return 0


def _pick_entity(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """An exact id or name, else an alias stored mentions matched, else the only entity whose
    id or name starts with ``text`` (as ``trends`` picks, plus aliases)."""
    from newswatch.warehouse import queries, search

    exact = queries.resolve_entity(con, text)
    if exact is not None:
        return exact
    by_alias = search.entities_by_alias(con, text)
    if len(by_alias) == 1:
        return by_alias[0]
    if by_alias:
        raise NewswatchError(f"alias {text!r} names several entities: {', '.join(by_alias)}")
    candidates = queries.entity_candidates(con, text)
    if len(candidates) == 1:
        return candidates[0][0]
    if candidates:
        listed = ", ".join(f"{eid} ({name})" for eid, name in candidates)
        raise NewswatchError(f"{text!r} matches several entities: {listed}")
    raise NewswatchError(
        f'unknown entity {text!r}: try `newswatch sql "SELECT entity_id, name FROM entities"`'
    )


def _row(rank: int, hit: SearchHit) -> tuple[object, ...]:
    return (
        rank,
        round(hit.score, 3),
        hit.article_id,
        hit.story_id,
        hit.published_day,
        hit.outlet,
        hit.source_id,
        hit.language,
        hit.title,
        hit.url,
        hit.snippet.bracketed(),
    )


def hit_block(rank: int, hit: SearchHit, snippet: str | None = None) -> list[str]:
    """One hit as lines that are never cut: a terminal wraps a long URL, it loses nothing.
    ``snippet`` replaces the [bracketed] one (the terminal's marked-up copy)."""
    meta = " · ".join(
        str(v) for v in (hit.outlet, hit.published_day, hit.language, f"score {hit.score:.3f}") if v
    )
    return [
        f"{rank}. {hit.title or '(no title)'}",
        f"   {meta}",
        f"   id {hit.article_id} · story {hit.story_id or '-'}",
        f"   {hit.url}",
        f"   {hit.snippet.bracketed() if snippet is None else snippet}",
    ]


def write_blocks(hits: list[SearchHit], stream: TextIO, *, terminal: bool) -> None:
    """Plain text with [brackets] around matches; on a terminal, the matches in bold colour
    (rich, soft-wrapped so no line is cut or broken inside a URL)."""
    footer = f"{len(hits)} hit(s)" + ("; `newswatch why ID` explains one" if hits else "")
    if not terminal:
        lines = [line for rank, hit in enumerate(hits, 1) for line in [*hit_block(rank, hit), ""]]
        stream.write("\n".join([*lines, footer]) + "\n")
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)
    for rank, hit in enumerate(hits, 1):
        marked = hit.snippet.bracketed("\x00", "\x01", escape=escape)
        marked = marked.replace("\x00", "[bold yellow]").replace("\x01", "[/bold yellow]")
        plain = hit_block(rank, hit, snippet="\x02")
        for line in plain:
            console.print(escape(line).replace("\x02", marked))
        console.print()
    console.print(footer, markup=False)
