"""The warehouse as a lake (``--db *.lake.sqlite``), end to end (issue 16).

A real ``newswatch run --sample`` loads into a DuckLake with a SQLite catalog while another
process, a plain DuckDB client that ran exactly what ``newswatch attach`` prints, holds a
read transaction open on it for the whole run: the run loads without waiting, the reader's
transaction keeps its snapshot, and its next query sees the new rows. The analyst commands
then read the lake live (sql, trends by a Cyrillic alias, phrase search through the index
file beside the lake), and an unchanged re-run leaves the index file untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from newswatch.warehouse.db import connect
from tests.prefect_server import NEWSWATCH

READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    for statement in open(sys.argv[1]).read().split(";\\n"):
        if statement.strip():
            con.execute(statement)
    for line in sys.stdin:
        command = line.strip()
        if command == "begin":
            con.execute("BEGIN TRANSACTION")
            answer = "ok"
        elif command == "commit":
            con.execute("COMMIT")
            answer = "ok"
        else:
            answer = str(con.execute("SELECT count(*) FROM articles").fetchone()[0])
        print(answer, flush=True)
    """
)


def cli(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NEWSWATCH, *argv], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def ask(reader: subprocess.Popen[str], command: str) -> str:
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write(command + "\n")
    reader.stdin.flush()
    return reader.stdout.readline().strip()


@pytest.mark.slow
def test_a_run_loads_into_the_lake_while_a_reader_holds_a_transaction_open(
    tmp_path: Path, prefect_api: str
) -> None:
    lake = tmp_path / "data" / "newswatch.lake.sqlite"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "HOME": str(tmp_path)}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    connect(lake).close()  # an empty lake, so the reader can attach before the first load
    attach = cli("attach", "--db", str(lake), env=env, cwd=tmp_path)
    assert attach.returncode == 0, attach.stderr
    (tmp_path / "attach.sql").write_text(attach.stdout, "utf-8")
    assert "READ_ONLY" in attach.stdout and "ducklake:sqlite:" in attach.stdout

    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path / "attach.sql")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert ask(reader, "begin") == "ok"
        assert ask(reader, "count") == "0"
        started = time.monotonic()
        run = cli("run", "--sample", "--db", str(lake), env=env, cwd=tmp_path)
        took = time.monotonic() - started
        assert run.returncode == 0, run.stdout + run.stderr
        assert "loaded 1 batch(es) into the lake: +53 articles" in run.stdout, run.stdout
        assert "0 left staged" in run.stdout and "locked" not in run.stdout
        assert ask(reader, "count") == "0"  # its transaction keeps its snapshot
        assert ask(reader, "commit") == "ok"
        assert ask(reader, "count") == "53"  # the next query sees the commit
    finally:
        assert reader.stdin is not None
        reader.stdin.close()
        reader.wait(timeout=30)
    assert not (tmp_path / "data" / "staging").exists() or not [
        p for p in (tmp_path / "data" / "staging").iterdir() if p.name.startswith("2")
    ], "a batch was left staged"
    assert took < 600

    sql = cli("sql", "select count(*) filter (where on_topic) from articles", "--db", str(lake),
              "--format", "csv", env=env, cwd=tmp_path)  # fmt: skip
    assert sql.returncode == 0 and int(sql.stdout.splitlines()[-1]) > 0, sql.stderr
    trends = cli("trends", "Алабуга", "--by", "week", "--since", "2026-09-01", "--db", str(lake),
                 "--format", "csv", env=env, cwd=tmp_path)  # fmt: skip
    assert trends.returncode == 0, trends.stderr
    rows = trends.stdout.splitlines()[1:]
    assert len(rows) >= 10 and any(r.split(",")[1] == "0" for r in rows)  # zeros kept
    found = cli("search", '"ghost fleet"', "--db", str(lake), env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "[ghost fleet]" in found.stdout and "hit(s)" in found.stdout

    # the other writers run on the lake too (MERGE / anti-join, no ON CONFLICT)
    rematch = cli("entities", "rematch", "--db", str(lake), env=env, cwd=tmp_path)
    assert rematch.returncode == 0 and "no change" in rematch.stdout, rematch.stderr
    reset = cli("sources", "reset", "--all", "--db", str(lake), env=env, cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr

    index = tmp_path / "data" / "newswatch.lake.search.duckdb"
    built = index.stat().st_mtime_ns
    again = cli("run", "--sample", "--db", str(lake), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "+0 articles" in again.stdout
    assert index.stat().st_mtime_ns == built  # no article changed: no index work
