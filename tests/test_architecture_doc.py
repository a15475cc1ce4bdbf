"""docs/ARCHITECTURE.md stays true: its module lists match the tree, its commands the CLI.

The doc lists each package's modules under a bold heading (``**extractors/** ...``) as
bullets opening with the backticked file name, and every command in the table of its
"## Commands" section as ``newswatch GROUP [SUBCOMMAND]``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from newswatch.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = (
    "core/",
    "extractors/",
    "warehouse/",
    "flows/",
    "newswatch/",
    "newswatch/commands/",
    "newswatch/report/",
    "newswatch/ui/",
)

HEADING = re.compile(r"^\*\*([a-z_/]+/)\*\*")
BULLET = re.compile(r"^- `([A-Za-z_][A-Za-z0-9_]*\.py)` — \S")
COMMAND_ROW = re.compile(r"^\| `newswatch ([a-z][a-z -]*)` \|")


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section (up to the next ``## `` heading)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"docs/ARCHITECTURE.md has no '## {title}' section"
    return match.group(1)


def documented_modules(text: str) -> dict[str, set[str]]:
    """Package folder -> module file names listed under its heading in '## Modules'."""
    listed: dict[str, set[str]] = {}
    current: str | None = None
    for line in section(text, "Modules").splitlines():
        heading = HEADING.match(line)
        if heading:
            current = heading.group(1)
            listed.setdefault(current, set())
            continue
        bullet = BULLET.match(line)
        if bullet and current is not None:
            listed[current].add(bullet.group(1))
    return listed


def tree_modules(package: str) -> set[str]:
    return {p.name for p in (ROOT / package).glob("*.py") if p.name != "__init__.py"}


def documented_commands(text: str) -> set[str]:
    """Every command path the '## Commands' table names, with its groups."""
    named: set[str] = set()
    for line in section(text, "Commands").splitlines():
        row = COMMAND_ROW.match(line)
        if row:
            words = row.group(1).split()
            named.update(" ".join(words[: i + 1]) for i in range(len(words)))
    return named


def cli_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every command path of the parser, nested subparsers included."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                found.add(" ".join(path))
                found |= cli_commands(sub, path)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_documented_and_every_documented_module_exists(package: str) -> None:
    listed = documented_modules(DOC.read_text(encoding="utf-8"))
    assert package in listed, f"docs/ARCHITECTURE.md '## Modules' has no **{package}** heading"
    on_disk = tree_modules(package)
    assert on_disk, f"{package} has no modules: the test is looking in the wrong place"
    missing = sorted(on_disk - listed[package])
    gone = sorted(listed[package] - on_disk)
    assert not missing, f"{package} modules not described in docs/ARCHITECTURE.md: {missing}"
    assert not gone, f"docs/ARCHITECTURE.md describes {package} modules that do not exist: {gone}"


def test_doc_has_no_module_heading_for_an_unknown_package() -> None:
    listed = documented_modules(DOC.read_text(encoding="utf-8"))
    assert set(listed) == set(PACKAGES)


def test_commands_table_matches_the_cli() -> None:
    named = documented_commands(DOC.read_text(encoding="utf-8"))
    actual = cli_commands(build_parser())
    assert {"alerts send", "sources reset", "entities derive"} <= actual  # the walk sees nesting
    missing = sorted(actual - named)
    extra = sorted(named - actual)
    assert not missing, f"CLI commands missing from docs/ARCHITECTURE.md '## Commands': {missing}"
    assert not extra, f"docs/ARCHITECTURE.md names commands the CLI does not have: {extra}"


def test_the_parsers_catch_a_dropped_or_invented_line() -> None:
    """The checks above can fail: a doc without one module line or one command row differs."""
    text = DOC.read_text(encoding="utf-8")
    without_module = text.replace("- `cadence.py` — ", "- cadence — ", 1)
    assert "cadence.py" not in documented_modules(without_module)["extractors/"]
    row = "| `newswatch doctor` |"
    invented = text.replace(row, row + "\n| `newswatch nope` | x |" + row[1:], 1)
    assert "nope" in documented_commands(invented) - cli_commands(build_parser())
    without_command = text.replace("| `newswatch alerts send` |", "| alerts send |", 1)
    assert "alerts send" not in documented_commands(without_command)
