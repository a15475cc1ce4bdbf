"""The data home: one rule, whatever the working directory (issue 14, item 11).

--db > $NEWSWATCH_DB > $NEWSWATCH_HOME/newswatch.duckdb > data/newswatch.duckdb in the
newswatch checkout being run > $XDG_DATA_HOME/newswatch (~/.local/share/newswatch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.settings import (
    DATA_HOME_RULE,
    REPO_ROOT,
    Settings,
    default_db_path,
    is_checkout,
)
from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot

CLI = str(Path(sys.executable).with_name("newswatch"))


def test_the_checkout_being_run_is_the_default_home_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cwd in (REPO_ROOT, REPO_ROOT / "docs", tmp_path):
        monkeypatch.chdir(cwd)
        settings = Settings.from_env({})
        assert settings.db_path == REPO_ROOT / "data" / "newswatch.duckdb"
        assert settings.data_dir == REPO_ROOT / "data"
        assert settings.staging_dir == REPO_ROOT / "data" / "staging"
        assert settings.db_origin == f"the newswatch checkout {REPO_ROOT}"


def test_precedence_db_then_env_then_home(tmp_path: Path) -> None:
    env = {"NEWSWATCH_DB": str(tmp_path / "env.duckdb"), "NEWSWATCH_HOME": str(tmp_path / "h")}
    assert Settings.from_env(env, db_path=tmp_path / "arg.duckdb").db_path == (
        tmp_path / "arg.duckdb"
    )
    assert Settings.from_env(env).db_path == tmp_path / "env.duckdb"
    assert Settings.from_env(env).db_origin == "$NEWSWATCH_DB"
    home = Settings.from_env({"NEWSWATCH_HOME": str(tmp_path / "h")})
    assert home.db_path == tmp_path / "h" / "newswatch.duckdb"
    assert home.data_dir == tmp_path / "h"
    assert home.snapshot_path == tmp_path / "h" / "newswatch.snapshot.duckdb"
    assert home.db_origin == "$NEWSWATCH_HOME"


def test_relative_paths_are_made_absolute_once_at_startup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    by_arg = Settings.from_env({}, db_path=Path("x/../mine.duckdb"))
    by_env = Settings.from_env({"NEWSWATCH_HOME": "home"})
    monkeypatch.chdir(REPO_ROOT)  # a later chdir changes nothing already resolved
    assert by_arg.db_path == tmp_path / "mine.duckdb" and by_arg.db_path.is_absolute()
    assert by_env.db_path == tmp_path / "home" / "newswatch.duckdb"
    assert by_arg.data_dir == tmp_path


def test_outside_a_checkout_the_user_data_directory(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages"  # what a non-editable install looks like
    installed.mkdir()
    assert not is_checkout(installed)
    assert is_checkout(REPO_ROOT)
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert default_db_path(xdg, installed) == (
        tmp_path / "xdg" / "newswatch" / "newswatch.duckdb",
        "the user data directory",
    )
    plain = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": "relative/ignored"}
    assert default_db_path(plain, installed)[0] == (
        tmp_path / "home" / ".local" / "share" / "newswatch" / "newswatch.duckdb"
    )
    # NEWSWATCH_HOME still wins over both
    assert default_db_path({**plain, "NEWSWATCH_HOME": str(tmp_path / "h")}, installed)[0] == (
        tmp_path / "h" / "newswatch.duckdb"
    )


def test_a_missing_database_names_the_path_why_and_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "empty-home"
    monkeypatch.setenv("NEWSWATCH_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert main(["sql", "SELECT 1"]) == 1
    err = capsys.readouterr().err
    assert f"no database at {home / 'newswatch.duckdb'} (from $NEWSWATCH_HOME" in err
    assert DATA_HOME_RULE in err and "newswatch run" in err
    assert err.count("\n") == 1
    assert not home.exists()  # a reader never creates the home


@pytest.fixture(scope="module")
def home_with_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    build_sample_db(home / "newswatch.duckdb")
    publish_snapshot(home / "newswatch.duckdb")
    return home


@pytest.mark.parametrize("where", ["tmp", "subfolder"])
def test_sql_finds_newswatch_home_from_any_folder(
    home_with_data: Path, tmp_path: Path, where: str
) -> None:
    """The real CLI in a subprocess, run from /tmp-like folder and from a subfolder of the
    checkout: it reads $NEWSWATCH_HOME's database (176 sample articles) in both."""
    cwd = tmp_path if where == "tmp" else REPO_ROOT / "docs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_HOME"] = str(home_with_data)
    done = subprocess.run(
        [CLI, "sql", "SELECT count(*) AS n FROM articles", "--format", "csv"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n", "176"]


def test_the_checkout_default_is_the_same_from_a_subfolder_and_from_tmp(
    tmp_path: Path,
) -> None:
    """Without any setting, a fresh process resolves the same checkout path wherever it
    starts (the README's `data/newswatch.duckdb` in the checkout), never a cwd-relative
    one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    messages = []
    for cwd in (REPO_ROOT / "docs", tmp_path):
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "from newswatch.core.settings import Settings; print(Settings.from_env().db_path)",
            ],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        messages.append(probe.stdout.strip())
    assert messages == [str(REPO_ROOT / "data" / "newswatch.duckdb")] * 2
