"""``newswatch entities``: match texts against the catalogue, derive candidates from seeds."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import add_catalogue_argument, add_db_argument, settings_from_args
from newswatch.core.errors import ConfigError

if TYPE_CHECKING:
    import duckdb

    from newswatch.extractors.matcher import Matcher
    from newswatch.extractors.rematch import RematchResult

# Each handler imports the catalogue, matcher and warehouse modules it uses, so parsing
# arguments (and `newswatch --help`) loads none of them.


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "entities",
        help="match texts against the entity catalogue; derive candidates from seeds",
        description="Work with the entity catalogue (seeds/entities.toml).",
    )
    commands = parser.add_subparsers(dest="entities_command", metavar="SUBCOMMAND", required=True)

    match = commands.add_parser(
        "match",
        help="print matched entities, relevance and on-topic verdict as JSON",
        description="One JSON object per text: the TEXT argument, or one text per stdin line.",
    )
    match.add_argument("text", nargs="?", help="text to match (default: read stdin lines)")
    match.add_argument("--title", default=None, help="title of the text (weighs more)")
    add_catalogue_argument(match)
    match.set_defaults(handler=run_match)

    derive = commands.add_parser(
        "derive",
        help="list candidate entities found in seed texts, diffed against the catalogue",
        description=(
            "Extract capitalised n-grams, acronyms, model designators and quoted terms from "
            "the *.txt seed files, rank them, and mark each as in the catalogue or new."
        ),
    )
    derive.add_argument("seed_dir", type=Path, metavar="SEED_DIR")
    derive.add_argument("--format", choices=("table", "json"), default="table")
    derive.add_argument("--limit", type=int, default=0, help="show at most N rows (0 = all)")
    derive.add_argument(
        "--new-only", action="store_true", help="only candidates not in the catalogue"
    )
    add_catalogue_argument(derive)
    derive.set_defaults(handler=run_derive)

    check = commands.add_parser(
        "check",
        help="validate the catalogue and print its size and version",
        description="Load and validate the catalogue; exit 78 with file:line:field if broken.",
    )
    add_catalogue_argument(check)
    check.set_defaults(handler=run_check)

    emerging = commands.add_parser(
        "emerging",
        help="list emerging terms (names in on-topic articles the catalogue lacks)",
        description=(
            "Candidate new names stored by each run, ranked by outlet spread, frequency and "
            "growth (last 7 days before the newest run against the 7 days before)."
        ),
    )
    emerging.add_argument("--limit", type=int, default=30, help="show at most N terms")
    emerging.add_argument("--format", choices=("table", "json"), default="table")
    add_db_argument(emerging)
    emerging.set_defaults(handler=run_emerging)

    rematch = commands.add_parser(
        "rematch",
        help="re-apply the catalogue to stored articles and print what changed",
        description=(
            "Match every stored article's text again with the catalogue, replace its "
            "mentions, relevance and on-topic verdict in one transaction, record the "
            "catalogue version, and print mentions added/removed per entity and the "
            "articles that flipped on or off topic."
        ),
    )
    add_catalogue_argument(rematch)
    add_db_argument(rematch)
    rematch.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    rematch.add_argument(
        "--show", type=int, default=20, help="list at most N flipped articles per direction"
    )
    rematch.set_defaults(handler=run_rematch)


def run_match(args: argparse.Namespace) -> int:
    from newswatch.extractors.entities import load_catalogue
    from newswatch.extractors.matcher import Matcher

    matcher = Matcher(load_catalogue(args.catalogue))
    entities = matcher.catalogue.by_id()
    texts: Iterable[str] = [args.text] if args.text is not None else _stdin_lines()
    for text in texts:
        result = matcher.match(text, title=args.title)
        payload = {
            "relevance": result.relevance,
            "on_topic": result.on_topic,
            "rule": result.rule,
            "entities": [
                {
                    "id": mention.entity_id,
                    "name": entities[mention.entity_id].name,
                    "type": entities[mention.entity_id].type,
                    "side": entities[mention.entity_id].side,
                    "count": mention.count,
                    "first_offset": mention.first_offset,
                    "alias": mention.alias,
                }
                for mention in result.mentions
            ],
        }
        print(json.dumps(payload, ensure_ascii=False))
    return 0


def _stdin_lines() -> Iterable[str]:
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.strip():
            yield line


def run_derive(args: argparse.Namespace) -> int:
    from newswatch.extractors.derive import derive_review
    from newswatch.extractors.entities import load_catalogue

    seed_dir: Path = args.seed_dir
    if not seed_dir.is_dir():
        raise ConfigError(f"{seed_dir}: no such directory (SEED_DIR holds the *.txt seed texts)")
    if not any(seed_dir.glob("*.txt")):
        raise ConfigError(f"{seed_dir}: no *.txt seed texts in it (one article per file)")
    catalogue = load_catalogue(args.catalogue)
    rows = derive_review(seed_dir, catalogue)
    if args.new_only:
        rows = [row for row in rows if row.entity_id is None]
    if args.limit > 0:
        rows = rows[: args.limit]
    if args.format == "json":
        for row in rows:
            print(json.dumps(row.as_dict(), ensure_ascii=False))
        return 0
    print(
        f"{'rank':>4}  {'score':>6}  {'count':>5}  {'seeds':>5}  {'kind':<10}  status / candidate"
    )
    for rank, row in enumerate(rows, start=1):
        status = f"in catalogue: {row.entity_id}" if row.entity_id else "NEW"
        print(
            f"{rank:>4}  {row.score:>6.2f}  {row.count:>5}  {len(row.seeds):>5}  "
            f"{row.kind:<10}  {row.term}  [{status}]"
        )
    return 0


def run_check(args: argparse.Namespace) -> int:
    from newswatch.extractors.entities import load_catalogue
    from newswatch.extractors.matcher import Matcher

    catalogue = load_catalogue(args.catalogue)
    matcher = Matcher(catalogue)
    with_seeds = sum(1 for entity in catalogue.entities if entity.seeds)
    print(
        f"{catalogue.path}: {len(catalogue.entities)} entities ({with_seeds} from seeds), "
        f"{matcher.pattern_count} patterns, version {catalogue.version[:12]}"
    )
    return 0


def run_emerging(args: argparse.Namespace) -> int:
    from newswatch.warehouse.emerging_queries import ranked_emerging_terms

    settings = settings_from_args(args)
    rows = ranked_emerging_terms(settings.db_path, limit=max(args.limit, 1))
    if args.format == "json":
        for row in rows:
            payload = {**row.__dict__, "outlet_names": list(row.outlet_names)}
            print(json.dumps(payload, ensure_ascii=False, default=str))
        return 0
    if not rows:
        print("no emerging terms stored yet (they come from on-topic articles of each run)")
        return 0
    print(f"{'rank':>4}  {'outlets':>7}  {'count':>5}  {'runs':>4}  {'growth':>6}  term / example")
    for rank, row in enumerate(rows, start=1):
        example = (row.example or "").replace("\n", " ")
        if len(example) > 100:
            example = example[:99] + "…"
        print(
            f"{rank:>4}  {row.outlets:>7}  {row.count:>5}  {row.runs:>4}  "
            f"{row.growth:>6.1f}  {row.term}\n{'':>34}{example}"
        )
    return 0


def run_rematch(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from newswatch.extractors.entities import load_catalogue
    from newswatch.extractors.matcher import Matcher
    from newswatch.extractors.rematch import RematchResult, rematch_batch
    from newswatch.warehouse import rematch as rematch_store
    from newswatch.warehouse.db import connect

    settings = settings_from_args(args)
    catalogue = load_catalogue(args.catalogue)
    matcher = Matcher(catalogue)
    result = RematchResult()
    with connect(settings.db_path) as con:
        total = rematch_store.article_count(con)
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("rematching", total=total)
            for batch in rematch_store.stored_articles(con):
                rematch_batch(batch, matcher, result)
                progress.update(task, advance=len(batch))
        if not args.dry_run:
            rematch_store.write_rematch(con, result, catalogue)
        titles = _titles(con, [*result.now_on_topic, *result.now_off_topic])
    _print_diff(result, matcher, titles, args.show)
    verb = "would record" if args.dry_run else "recorded"
    print(f"catalogue {catalogue.version[:12]} ({len(catalogue.entities)} entities) {verb}")
    return 0


def _titles(con: duckdb.DuckDBPyConnection, article_ids: list[str]) -> dict[str, str]:
    if not article_ids:
        return {}
    rows = con.execute(
        "SELECT article_id, coalesce(title, url) FROM articles WHERE article_id IN "
        "(SELECT unnest($ids))",
        {"ids": article_ids},
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def _print_diff(result: RematchResult, matcher: Matcher, titles: dict[str, str], show: int) -> None:
    names = {entity.id: entity.name for entity in matcher.catalogue.entities}
    print(f"rematched {result.articles} articles: {len(result.mentions)} mentions")
    if not result.changed:
        print("no change: every article keeps its entities and verdict")
        return
    entities = sorted(set(result.added) | set(result.removed))
    print(f"{'entity':<40}  {'added':>6}  {'removed':>7}")
    for entity_id in entities:
        label = f"{entity_id} ({names[entity_id]})" if entity_id in names else entity_id
        print(
            f"{label:<40}  {result.added[entity_id]:>+6}  {'-' + str(result.removed[entity_id]):>7}"
        )
    for heading, ids in (
        ("now on topic", result.now_on_topic),
        ("now off topic", result.now_off_topic),
    ):
        print(f"{heading}: {len(ids)} article(s)")
        for article_id in ids[:show]:
            print(f"  {article_id[:12]}  {titles.get(article_id, '')}")
