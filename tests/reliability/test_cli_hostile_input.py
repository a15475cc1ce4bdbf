"""Cases 49-51: hostile CLI parameters and malformed config files change nothing.

SQL-injection payloads go through every analyst command that takes user text; the schema
and every table's content hash must be the same afterwards. Malformed files must fail with
file, line and field named, exit non-zero, and leave no database behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot

PAYLOADS = (
    "x'; drop table articles;--",
    "x'); DROP TABLE articles;--",
    "'; DELETE FROM mentions WHERE ''='",
    '" OR 1=1 --',
    "$1",
    "%s",
    "?",
    "a\x00b",
    "shahed'); COPY articles TO '/tmp/pwned.csv';--",
)


@pytest.fixture(scope="module")
def analyst_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("inject") / "newswatch.duckdb"
    build_sample_db(db)
    publish_snapshot(db)
    return db


def state(db: Path) -> dict[str, str]:
    """Schema plus a content hash of every table, for the live file and its snapshot."""
    out: dict[str, str] = {}
    for path in (db, db.with_name(f"{db.stem}.snapshot{db.suffix}")):
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY ALL"
            ).fetchall()
            out[f"{path.name}:schema"] = hashlib.sha256(repr(tables).encode()).hexdigest()
            for schema, table, _ in tables:
                rows = con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
                out[f"{path.name}:{schema}.{table}"] = hashlib.sha256(
                    repr(rows).encode()
                ).hexdigest()
    return out


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code or 0)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_injection_payloads_change_no_table(
    analyst_db: Path, payload: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(analyst_db)
    db = ["--db", str(analyst_db)]
    codes = [
        run_cli(["trends", payload, *db]),
        run_cli(["trends", payload, "--live", *db]),
        run_cli(["search", payload, *db]),
        run_cli(["trends", "shahed-136", "--since", payload, *db]),
        run_cli(["export", "--out", str(tmp_path / payload.replace("\x00", "")), *db]),
    ]
    capsys.readouterr()
    assert state(analyst_db) == before
    assert codes[0] == 1 and codes[1] == 1  # unknown entity, said so
    assert codes[2] == 0  # a search for odd words finds what it finds
    assert codes[3] == 2  # not a date: usage error
    assert not Path("/tmp/pwned.csv").exists()


def test_sql_command_cannot_write_even_when_asked(
    analyst_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(analyst_db)
    for statement in ("DROP TABLE articles", "DELETE FROM mentions", "CREATE TABLE t(i INT)"):
        for live in ([], ["--live"]):
            assert run_cli(["sql", statement, "--db", str(analyst_db), *live]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err.lower()
    assert state(analyst_db) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bogus"],
        ["run", "--sources"],
        ["trends", "irgc", "--since", "2024-13-45"],
        ["trends", "irgc", "--by", "fortnight"],
        ["search", "x", "--limit", "many"],
        ["frobnicate"],
        [],
    ],
    ids=[
        "unknown-option",
        "missing-value",
        "bad-date",
        "bad-choice",
        "bad-int",
        "no-command",
        "nothing",
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never.duckdb"
    code = run_cli([*argv, "--db", str(db)] if argv and argv[0] != "frobnicate" else argv)
    assert code == 2
    assert "usage:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


MALFORMED_SOURCES = {
    "bad-toml": ('[[source]]\nid = "a"\nurl = "http://x.org/f.xml\n', "line 3"),
    "unknown-key": (
        '[[source]]\nid = "a"\nname = "A"\nurl = "http://x.org/f.xml"\ncolour = "red"\n',
        "colour",
    ),
    "duplicate-id": (
        '[[source]]\nid = "a"\nname = "A"\nurl = "http://x.org/a.xml"\n'
        '[[source]]\nid = "a"\nname = "B"\nurl = "http://x.org/b.xml"\n',
        "duplicate",
    ),
    "bad-url": ('[[source]]\nid = "a"\nname = "A"\nurl = "notaurl"\n', "url"),
}


@pytest.mark.parametrize("name", list(MALFORMED_SOURCES))
def test_malformed_sources_file_fails_the_run_before_anything_is_written(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, field = MALFORMED_SOURCES[name]
    sources = tmp_path / "sources.toml"
    sources.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    code = run_cli(["run", "--sources", str(sources), "--db", str(data / "news.duckdb")])
    err = capsys.readouterr().err
    assert code == 78, err
    assert str(sources) in err and field in err
    assert not data.exists()


MALFORMED_ALERTS = {
    "bad-toml": ("[[rule]\nname = 'x'\n", "line 1"),
    "unknown-channel": (
        '[[rule]]\nname = "r"\nkind = "new_story"\nchannels = ["nowhere"]\n',
        "nowhere",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED_ALERTS))
def test_malformed_alerts_file_fails_the_run_before_anything_is_written(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, field = MALFORMED_ALERTS[name]
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    code = run_cli(["run", "--alerts", str(alerts), "--db", str(data / "news.duckdb")])
    err = capsys.readouterr().err
    assert code == 78, err
    assert str(alerts) in err and field in err
    assert not data.exists()


def test_malformed_entities_file_is_refused_with_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = tmp_path / "entities.toml"
    catalogue.write_text('[[entity]]\nid = "x"\nname = "X"\naliases = [""]\n', encoding="utf-8")
    code = run_cli(["entities", "check", "--catalogue", str(catalogue)])
    err = capsys.readouterr().err
    assert code == 78, err
    assert f"{catalogue}:2:" in err and "field 'type'" in err
