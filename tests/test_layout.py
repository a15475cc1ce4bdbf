"""The layout rules hold: Prefect only in flows/, every module importable, CLI help works."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from newswatch.cli import build_parser

REPO_ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ("extractors", "warehouse")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_packages_do_not_import_prefect(package: str) -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if any(m == "prefect" or m.startswith("prefect.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_extractors_do_not_import_duckdb() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / "extractors").rglob("*.py"))
        if "duckdb" in imported_modules(path)
    ]
    assert offenders == []


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
