"""`run`, `serve`, `watch` and `backfill` take the same source/database/alert options, and
`serve` refuses a bad cron in one line before Prefect starts."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import build_parser, main
from newswatch.commands import serve
from tests.prefect_server import NEWSWATCH

SHARED = ("--sample", "--sources", "--allow-private", "--db", "--catalogue")
ALERTS = ("--alerts", "--alerts-to")  # not in backfill: history raises no alerts


def subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[name]


def shared_options(name: str) -> dict[str, tuple[object, ...]]:
    """Each shared option's spelling, destination, default, arity, metavar and help."""
    options = {}
    for action in subcommand(name)._actions:
        for option in action.option_strings:
            if option in SHARED + ALERTS:
                options[option] = (
                    action.dest,
                    action.default,
                    action.nargs,
                    action.metavar,
                    action.help,
                    type(action).__name__,
                )
    return options


@pytest.mark.parametrize("command", ["serve", "watch", "backfill"])
def test_ingesting_commands_take_the_options_of_run_spelled_and_defaulted_alike(
    command: str,
) -> None:
    run = shared_options("run")
    assert set(run) == set(SHARED + ALERTS)
    expected = run if command != "backfill" else {k: run[k] for k in SHARED}  # no alerts
    assert shared_options(command) == expected


def test_allow_private_and_alerts_to_repeat() -> None:
    args = subcommand("serve").parse_args(
        ["--allow-private", "10.0.0.5", "--allow-private", "intranet.local", "--sample"]
    )
    assert args.allow_private == ["10.0.0.5", "intranet.local"]
    assert args.sample


def test_serve_parameters_carry_the_sample_host_and_the_options(tmp_path: Path) -> None:
    db = str(tmp_path / "nw.duckdb")
    args = subcommand("serve").parse_args(
        ["--db", db, "--allow-private", "10.0.0.5", "--alerts-to", "file:///tmp/a.jsonl"]
    )
    parameters = serve.serve_parameters(args, tmp_path / "sample.toml", ["127.0.0.1"])
    assert parameters == {
        "sources": str(tmp_path / "sample.toml"),
        "db": str(tmp_path / "nw.duckdb"),
        "allow_private": ["10.0.0.5", "127.0.0.1"],
        "alerts_to": ["file:///tmp/a.jsonl"],
    }


def serve_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``newswatch serve ARGS`` against a Prefect API where nothing listens, run in an empty
    directory with a private PREFECT_HOME."""
    (tmp_path / "cwd").mkdir(exist_ok=True)
    return subprocess.run(
        [*NEWSWATCH, "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path / "cwd",
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_API_URL": f"http://127.0.0.1:{closed_port()}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        },
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on return: nothing listens


@pytest.mark.parametrize("cron", ["bad", "61 * * * *", "* * * *", "0 25 * * *"])
def test_serve_refuses_a_bad_cron_in_one_line_before_prefect_starts(
    cron: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (the one subprocess smoke test of serve is the next one)."""
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--cron", cron, "--db", "nw.duckdb"]) == 78
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"newswatch: configuration error: --cron {cron!r} is not a cron")
    assert not list(tmp_path.iterdir())  # nothing written


def test_serve_without_its_prefect_server_says_so_in_one_line(tmp_path: Path) -> None:
    result = serve_cli(["--cron", "* * * * *", "--db", "nw.duckdb"], tmp_path)
    assert result.returncode == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("newswatch: cannot reach the Prefect API at http://127.0.0.1:")
    assert "Traceback" not in result.stderr
    assert "unset PREFECT_API_URL" in last


def test_serve_accepts_the_crons_of_the_docs() -> None:
    for cron in (serve.DEFAULT_CRON, "* * * * *", "*/2 * * * *", "0 6 * * 1-5"):
        serve.check_cron(cron)


# an entity only the analyst's catalogue has (never one the bundled catalogue may gain:
# Amirabad, used here first, was added to seeds/entities.toml and made this a duplicate id)
RIVER_BARGES = """
[[entity]]
id = "analyst-river-barges"
type = "place"
name = "river barges"
side = "russia"
aliases = []
seeds = []
"""


def test_catalogue_is_an_option_of_run_serve_and_watch_and_a_served_parameter(
    tmp_path: Path,
) -> None:
    catalogue = tmp_path / "entities.toml"
    args = subcommand("serve").parse_args(
        ["--db", str(tmp_path / "nw.duckdb"), "--catalogue", str(catalogue)]
    )
    parameters = serve.serve_parameters(args, tmp_path / "sample.toml")
    assert parameters["catalogue"] == str(catalogue)
    for command, extra in (("run", []), ("watch", []), ("backfill", ["--since", "2026-01-01"])):
        parsed = subcommand(command).parse_args(["--catalogue", "x.toml", *extra])
        assert parsed.catalogue == Path("x.toml")


def test_run_refuses_a_broken_catalogue_before_prefect_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "entities.toml"
    broken.write_text('[[entity]]\nid = "x"\n', "utf-8")
    assert main(["run", "--sample", "--catalogue", str(broken), "--db", "nw.duckdb"]) == 78
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("newswatch: configuration error: ") and str(broken) in line
    assert not (tmp_path / "nw.duckdb").exists()


@pytest.mark.slow
def test_run_matches_with_the_catalogue_it_is_given(tmp_path: Path) -> None:
    """A new entity in the analyst's own catalogue, no edit of seeds/entities.toml: the
    sample run stores its mentions, and the default output is the summary, no log noise."""
    from newswatch.core.settings import DEFAULT_ENTITIES

    catalogue = tmp_path / "entities.toml"
    catalogue.write_text(DEFAULT_ENTITIES.read_text("utf-8") + RIVER_BARGES, "utf-8")
    db = tmp_path / "data" / "newswatch.duckdb"
    # a home with no ~/.prefect: Prefect would warn that its memo store cannot be written
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "HOME": str(tmp_path)}
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_LOGGING")}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [*NEWSWATCH, "run", "--sample", "--catalogue", str(catalogue), "--db", str(db)],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        query = "select count(*) from mentions where entity_id = 'analyst-river-barges'"
        row = con.execute(query).fetchone()
    assert row is not None and row[0] > 0
    assert done.stdout.count("newswatch run ") == 1  # one summary
    noise = ("Task run", "Beginning flow run", "| feeds polled |", "Warning:", "warnings.warn")
    noise += ("memo_store.toml",)
    assert not [n for n in noise if n in done.stdout + done.stderr], done.stderr
    assert "Starting temporary server" not in done.stderr
