"""The layout rules hold: one import name (``newswatch.*``), every package folder installed,
seeds read as package data, CLI help works. (The layer rules: tests/test_layers.py.)"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from newswatch.cli import build_parser
from newswatch.core import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
# The top-level folders that install under newswatch (pyproject [tool.setuptools.package-dir]).
MAPPED_FOLDERS = {"core", "extractors", "warehouse", "flows", "seeds"}
BARE_NAMES = ("core", "extractors", "warehouse", "flows")
# An import of a bare name anywhere in a line of code, docs or a code string (``python -c``
# scripts, subprocess sources), and a quoted dotted name (monkeypatch targets, __import__).
BARE_IMPORT_LINE = re.compile(r"^\s*(?:from|import)\s+(?:core|extractors|warehouse|flows)\b", re.M)
BARE_QUOTED_NAME = re.compile(r"[\"'](?:core|extractors|warehouse|flows)\.[a-z_]")


def tracked_files(*suffixes: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO_ROOT / name for name in listed if name.endswith(suffixes)]


def test_no_module_imports_a_bare_top_level_name() -> None:
    """``extractors``/``warehouse``/``flows`` are other projects' names on the package index;
    everything imports ``newswatch.extractors`` etc. (ruff's TID251 says the same per line)."""
    offenders = []
    for path in tracked_files(".py"):
        bare = {
            m
            for m in imported_modules(path)
            if m.split(".")[0] in BARE_NAMES  # absolute imports only: level 0
        }
        if bare:
            offenders.append(f"{path.relative_to(REPO_ROOT)}: {sorted(bare)}")
    assert offenders == []


def test_no_code_string_or_doc_names_a_bare_top_level_module() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in tracked_files(".py", ".md", ".toml", ".yaml")
        for text in [path.read_text(encoding="utf-8")]
        for pattern in (BARE_IMPORT_LINE, BARE_QUOTED_NAME)
        for match in pattern.finditer(text)
    ]
    assert offenders == []


def test_the_bare_names_are_banned_in_ruff() -> None:
    lint = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "TID251" in lint["select"]
    assert set(lint["flake8-tidy-imports"]["banned-api"]) == set(BARE_NAMES)


def test_every_package_folder_is_installed_under_newswatch() -> None:
    """pyproject lists the packages by hand (package-dir mapping); a new subpackage folder
    that is not listed would be missing from the wheel."""
    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = tool["package-dir"]
    assert {folder for folder in mapping.values()} == MAPPED_FOLDERS
    assert all(name == f"newswatch.{folder}" for name, folder in mapping.items())
    folders = {"newswatch": "newswatch", **mapping}
    expected = {
        ".".join((name, *init.parent.relative_to(REPO_ROOT / folder).parts)): init.parent
        for name, folder in folders.items()
        for init in (REPO_ROOT / folder).rglob("__init__.py")
    }
    assert set(tool["packages"]) == set(expected)
    for name, folder in expected.items():  # and the editable install maps each one there
        assert Path(importlib.import_module(name).__file__ or "").parent == folder


def test_seeds_are_read_as_package_data() -> None:
    """settings finds seeds/ through importlib.resources, not a path beside the checkout."""
    assert Path(str(resources.files("newswatch.seeds"))) == settings.SEEDS_DIR
    assert settings.SAMPLE_DIR == settings.SEEDS_DIR / "sample"
    for path in (settings.DEFAULT_SOURCES, settings.DEFAULT_ENTITIES, settings.DEFAULT_ALERTS):
        assert path.is_file() and path.parent == settings.SEEDS_DIR
    assert (settings.SAMPLE_DIR / "site").is_dir()
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = package_data["package-data"]["newswatch.seeds"]
    seeds = REPO_ROOT / "seeds"
    shipped = {p for pattern in globs for p in seeds.glob(pattern) if p.is_file()}
    on_disk = {p for p in seeds.rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}}
    assert shipped == on_disk  # every data file under seeds/ is in the wheel


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def subcommand_names() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    names = subcommand_names()
    assert {"run", "sql"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: newswatch" in capsys.readouterr().out


def test_unknown_option_exits_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["run", "--no-such-option"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
