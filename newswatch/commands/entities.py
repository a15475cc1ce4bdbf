"""``newswatch entities``: match texts against the catalogue, derive candidates from seeds."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from extractors.derive import derive_review
from extractors.entities import load_catalogue
from extractors.matcher import Matcher


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
    _add_catalogue_argument(match)
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
    _add_catalogue_argument(derive)
    derive.set_defaults(handler=run_derive)

    check = commands.add_parser(
        "check",
        help="validate the catalogue and print its size and version",
        description="Load and validate the catalogue; exit 78 with file:line:field if broken.",
    )
    _add_catalogue_argument(check)
    check.set_defaults(handler=run_check)


def _add_catalogue_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        help="entity catalogue TOML (default: seeds/entities.toml)",
    )


def run_match(args: argparse.Namespace) -> int:
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
    catalogue = load_catalogue(args.catalogue)
    rows = derive_review(args.seed_dir, catalogue)
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
    catalogue = load_catalogue(args.catalogue)
    matcher = Matcher(catalogue)
    with_seeds = sum(1 for entity in catalogue.entities if entity.seeds)
    print(
        f"{catalogue.path}: {len(catalogue.entities)} entities ({with_seeds} from seeds), "
        f"{matcher.pattern_count} patterns, version {catalogue.version[:12]}"
    )
    return 0
