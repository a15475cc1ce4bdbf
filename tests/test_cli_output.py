"""The CLI behaves like the tools analysts know (issue 20, item 5): a closed pipe ends a
command quietly, and tables fit the terminal.

The pipe cases run the real console script in a subprocess on a real sample warehouse:
once through a shell's ``| head -1`` and once with the pipe's read end closed before the
command writes (every write then fails: the outcome does not depend on timing).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.cli import CANNOT_WRITE, PIPE_CLOSED, main
from newswatch.commands.output import fit_columns, hidden_note
from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot

NEWSWATCH = str(Path(sys.executable).with_name("newswatch"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli-output") / "newswatch.duckdb"
    build_sample_db(db)
    publish_snapshot(db)
    return db


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, NEWSWATCH_HOME=str(tmp_path / "home"), COLUMNS="100")


COMMANDS = {
    "sql-table": ["sql", "select * from articles"],
    "sql-csv": ["sql", "select * from articles", "--format", "csv"],
    "sql-json": ["sql", "select * from articles", "--format", "json"],
    "export": ["export", "--format", "csv", "--out", "{out}"],
    "status": ["status"],
    "alerts-list": ["alerts", "list"],
}


@pytest.mark.parametrize("name", ["sql-table", "sql-csv", "export"])
def test_a_shell_pipe_to_head_ends_without_a_traceback(
    warehouse: Path, tmp_path: Path, name: str
) -> None:
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in COMMANDS[name]]
    line = " ".join(f"'{a}'" for a in [NEWSWATCH, *argv, "--db", str(warehouse)])
    done = subprocess.run(
        ["bash", "-c", f'{line} | head -1; echo "exit=${{PIPESTATUS[0]}}" >&2'],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Error" not in done.stderr, done.stderr
    assert len(done.stdout.splitlines()) == 1
    # 0 when all of it fit in the pipe before head closed it, else 141 (never 1)
    assert done.stderr.strip().splitlines()[-1] in ("exit=0", f"exit={PIPE_CLOSED}")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_closed_pipe_ends_the_command_with_141_and_nothing_on_stderr(
    warehouse: Path, tmp_path: Path, name: str
) -> None:
    argv = [a.replace("{out}", str(tmp_path / "out")) for a in COMMANDS[name]]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        done = subprocess.run(
            [NEWSWATCH, *argv, "--db", str(warehouse)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == PIPE_CLOSED


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("name", ["sql-table", "sql-json", "status"])
def test_output_that_cannot_be_written_is_one_line_and_exit_74(
    warehouse: Path, tmp_path: Path, name: str
) -> None:
    """``> /dev/full`` (every write: ENOSPC), as a full disk would be: no traceback."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [NEWSWATCH, *COMMANDS[name], "--db", str(warehouse)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
            timeout=120,
            check=False,
        )
    assert done.stderr == "newswatch: cannot write the output: No space left on device\n"
    assert done.returncode == CANNOT_WRITE


def test_select_star_fits_the_terminal_and_names_the_columns_it_left_out(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert (
        main(["sql", "select * from articles order by article_id limit 3", "--db", str(warehouse)])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 100
    header = table[1]
    # whole column names, never "art… sou…"
    assert "article_id" in header and "source_id" in header and "…" not in header
    assert len(table) == 4 + 3  # top, header, rule, one line per row (3 rows), bottom
    note = lines[-1]
    assert note.startswith("more column(s)", note.index(" ") + 1)
    assert "published_at" in note and "(use --format csv/json or select fewer columns)" in note


def test_fewer_columns_show_whole_and_a_narrow_terminal_still_shows_one(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    query = "select outlet, on_topic from articles order by article_id limit 2"
    assert main(["sql", query, "--db", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "more column" not in out and "…" not in out
    monkeypatch.setenv("COLUMNS", "10")
    assert main(["sql", "select title, outlet from articles limit 1", "--db", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "title" in out and "1 more column(s): outlet" in out


def test_markup_in_a_value_is_printed_as_it_is(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["sql", "select '[bold]x[/bold]' as v", "--db", str(warehouse)]) == 0
    assert "[bold]x[/bold]" in capsys.readouterr().out


def test_machine_formats_keep_every_column(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    argv = ["sql", "select * from articles", "--format", "csv", "--db", str(warehouse)]
    assert main(argv) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(rows[0]) > 20 and len(rows) > 50


def test_fit_columns_shares_the_room_left_and_never_cuts_below_the_minimum() -> None:
    columns = ["id", "title", "n"]
    cells = [["a1", "x" * 80, "3"]]
    assert fit_columns(columns, cells, None) == {0: 2, 1: 60, 2: 1}  # a file: natural widths
    layout = fit_columns(columns, cells, 40)
    assert sum(layout.values()) + 3 * len(layout) + 1 == 40
    assert layout[0] == 2 and layout[2] == 1 and layout[1] == 40 - 10 - 3
    assert list(fit_columns(columns, cells, 12)) == [0]
    assert hidden_note(["b", "c"]) == (
        "2 more column(s): b, c (use --format csv/json or select fewer columns)"
    )
