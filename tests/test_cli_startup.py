"""CLI start-up stays light (issue 17): parsing arguments and the read-only analyst commands
do not import the ingest stack (Prefect, the fetcher, trafilatura, MinHash and its scipy).

Each case runs a fresh interpreter (``python -c``), so modules the test process itself has
imported do not hide an eager import; the command runs against a real sample warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot

# What an analyst command must not pay for: the ingest stack.
HEAVY = ("prefect", "httpx", "trafilatura", "datasketch", "scipy", "feedparser")
# Parsing arguments alone (`--help`) needs no database driver or Arrow either.
HEAVY_FOR_HELP = (*HEAVY, "duckdb", "pyarrow")

_PROBE = """
import contextlib, io, json, sys
from newswatch.cli import build_parser, main
build_parser()
out, err = io.StringIO(), io.StringIO()
code = None
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(json.loads(sys.argv[1]))
    except SystemExit as exc:
        code = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "loaded": loaded}))
"""


def _run(argv: list[str], tmp_path: Path) -> dict[str, object]:
    env = dict(os.environ, NEWSWATCH_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("startup") / "newswatch.duckdb"
    build_sample_db(db)
    publish_snapshot(db)
    return db


@pytest.mark.parametrize("live", [False, True], ids=["snapshot", "live"])
def test_sql_select_1_imports_no_ingest_module(warehouse: Path, tmp_path: Path, live: bool) -> None:
    argv = ["sql", "select 1 AS one", "--db", str(warehouse), "--format", "csv"]
    result = _run([*argv, "--live"] if live else argv, tmp_path)
    assert result["code"] == 0, result["err"]
    assert result["out"] == "one\r\n1\r\n"  # the command really ran
    assert result["err"] == ""
    loaded = set(result["loaded"])  # type: ignore[call-overload]
    assert "duckdb" in loaded  # the probe sees what the command imported
    assert sorted(loaded.intersection(HEAVY)) == []


def _first_article(db: Path) -> tuple[str, str]:
    from newswatch.warehouse.db import connect

    con = connect(db, read_only=True)
    try:
        row = con.sql("SELECT article_id, url FROM articles ORDER BY article_id LIMIT 1").fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0]), str(row[1])


# The other read-only commands of `newswatch --help`, each as an analyst runs it, on the
# sample warehouse; each must really answer (exit 0, some output).
READ_ONLY = {
    "trends": ["trends", "alabuga", "--format", "csv"],
    "trends-live": ["trends", "alabuga", "--by", "week", "--live"],
    "search": ["search", "drone", "--format", "csv"],
    "report": ["report", "--out", "{tmp}/report.html"],
    "why-id": ["why", "{article_id}"],
    "why-url": ["why", "{url}", "--format", "json"],
    "status": ["status"],
    "attach": ["attach"],
    "alerts-list": ["alerts", "list"],
    "export": ["export", "--format", "csv", "--out", "{tmp}/export"],
}


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_commands_import_no_ingest_module(
    name: str, warehouse: Path, tmp_path: Path
) -> None:
    article_id, url = _first_article(warehouse)
    values = {"tmp": str(tmp_path), "article_id": article_id, "url": url}
    argv = [part.format(**values) for part in READ_ONLY[name]]
    result = _run([*argv, "--db", str(warehouse)], tmp_path)
    assert result["code"] == 0, result["err"]
    wrote = list(tmp_path.glob("report.html")) + list(tmp_path.glob("export/*"))
    assert str(result["out"]).strip() or wrote, result  # the command really answered
    loaded = set(result["loaded"])  # type: ignore[call-overload]
    assert sorted(loaded.intersection(HEAVY)) == []


def test_help_imports_no_ingest_module_nor_the_database_driver(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path)
    assert result["code"] == 0
    assert "sql" in str(result["out"]) and "trends" in str(result["out"])
    loaded = set(result["loaded"])  # type: ignore[call-overload]
    assert "argparse" in loaded
    assert sorted(loaded.intersection(HEAVY_FOR_HELP)) == []
