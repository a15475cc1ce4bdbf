"""`newswatch sql` cannot write to or over the warehouse or its snapshot (issue 14, item 8).

Each case runs the real CLI against a real sample warehouse and its published snapshot,
then checks the files byte for byte. Before the fix, ``COPY (SELECT 'oops') TO '<db>'``
overwrote the database with a 7-byte CSV and exited 0.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.warehouse import search
from newswatch.warehouse.db import connect, lock_down
from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.shell import check_query
from newswatch.warehouse.snapshot import publish_snapshot


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shell") / "newswatch.duckdb"
    build_sample_db(db)
    publish_snapshot(db)
    return db


def snapshot_of(db: Path) -> Path:
    return db.with_name("newswatch.snapshot.duckdb")


def digests(folder: Path) -> dict[str, str]:
    """Every file under the warehouse's folder (staging excluded) and its content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def sql(db: Path, query: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["sql", query, "--db", str(db), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def attacks(db: Path) -> list[str]:
    live, snap = str(db), str(snapshot_of(db))
    return [
        f"COPY (SELECT 'oops') TO '{live}'",
        f"COPY (SELECT 'oops') TO '{snap}'",
        f"COPY (SELECT 'oops') TO '{snap}' (FORMAT csv, USE_TMP_FILE false)",
        f"COPY (SELECT 'oops') TO '{live}' (FORMAT csv, USE_TMP_FILE false)",
        f"COPY (SELECT 'oops') TO '{live}.wal' (USE_TMP_FILE false)",
        f"EXPLAIN ANALYZE COPY (SELECT 'oops') TO '{snap}' (USE_TMP_FILE false)",
        f"SELECT 1; COPY (SELECT 'oops') TO '{snap}' (USE_TMP_FILE false)",
        f"EXPORT DATABASE '{db.parent / 'exported'}'",
        f"ATTACH '{live}' AS w (READ_WRITE)",
        f"ATTACH '{snap}' AS w2 (READ_WRITE)",
        f"ATTACH '{db.parent / 'new.duckdb'}' AS n",
        "CREATE TABLE articles2 AS SELECT * FROM articles",
        "DELETE FROM articles",
        "UPDATE articles SET title = 'x'",
        "DROP TABLE mentions",
        "INSTALL sqlite",
        "LOAD sqlite",
        f"LOAD '{search.extension_path()}'",
        "SET enable_external_access = true",
        "CHECKPOINT",
        "VACUUM",
    ]


@pytest.mark.parametrize("live", [False, True], ids=["snapshot", "live"])
def test_no_statement_changes_the_warehouse_or_its_snapshot(
    warehouse: Path, live: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digests(warehouse.parent)
    extra = ("--live",) if live else ()
    for query in attacks(warehouse):
        code, output = sql(warehouse, query, *extra, capsys=capsys)
        assert code != 0, query
        assert "query refused" in output or "query failed" in output, (query, output)
        assert "Traceback" not in output
        assert digests(warehouse.parent) == before, query
    assert not (warehouse.parent / "exported").exists()
    assert not (warehouse.parent / "new.duckdb").exists()
    code, output = sql(warehouse, "SELECT count(*) AS n FROM articles", *extra, capsys=capsys)
    assert code == 0 and "176" in output


def test_a_copy_over_the_database_is_refused_with_what_the_shell_can_do(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = sql(warehouse, f"COPY (SELECT 'oops') TO '{warehouse}'", capsys=capsys)
    assert code == 1
    assert "query refused: COPY statements are not run" in output
    assert "--out FILE" in output and "docs/QUERIES.md" in output


def test_even_with_the_statement_check_bypassed_the_connection_cannot_reach_files(
    warehouse: Path, tmp_path: Path
) -> None:
    """The second wall alone (read-only + lock_down) still refuses file access."""
    outside = tmp_path / "other.csv"
    outside.write_text("a\n1\n", encoding="utf-8")
    with connect(snapshot_of(warehouse), read_only=True) as con:
        lock_down(con)
        for statement in (
            f"SELECT * FROM read_csv('{outside}')",
            f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
            "INSTALL sqlite",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET allowed_directories = ['/']",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(statement)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


def test_reading_other_files_needs_allow_read(
    warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "watchlist.csv").write_text("entity_id\nalabuga\nirgc\n", encoding="utf-8")
    query = f"SELECT count(*) AS n FROM read_csv('{mine / 'watchlist.csv'}')"
    code, output = sql(warehouse, query, capsys=capsys)
    assert code == 1 and "query refused" in output and "--allow-read" in output
    code, output = sql(warehouse, query, "--allow-read", str(mine), capsys=capsys)
    assert code == 0 and "2" in output
    # the allowed folder is readable, not writable: a COPY into it is still refused
    code, output = sql(
        warehouse,
        f"COPY (SELECT 1) TO '{mine / 'x.csv'}'",
        "--allow-read",
        str(mine),
        capsys=capsys,
    )
    assert code == 1 and not (mine / "x.csv").exists()
    # and a file outside it is not
    code, _ = sql(
        warehouse,
        "SELECT * FROM read_text('/etc/hostname')",
        "--allow-read",
        str(mine),
        capsys=capsys,
    )
    assert code == 1


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_out_still_writes_the_result_where_asked(
    warehouse: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"result.{fmt}"
    query = "SELECT entity_id, name FROM entities ORDER BY entity_id LIMIT 3"
    code, _ = sql(warehouse, query, "--format", fmt, "--out", str(out), capsys=capsys)
    assert code == 0
    if fmt == "json":
        assert [r["entity_id"] for r in json.loads(out.read_text(encoding="utf-8"))] == [
            "alabuga",
            "geran-2",
            "hezbollah",
        ]
    else:
        with duckdb.connect() as con:
            rows = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()
        assert rows == (3,)


@pytest.mark.parametrize("target", ["live", "snapshot", "wal"])
def test_out_refuses_the_warehouse_files(
    warehouse: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digests(warehouse.parent)
    path = {
        "live": warehouse,
        "snapshot": snapshot_of(warehouse),
        "wal": warehouse.with_name(warehouse.name + ".wal"),
    }[target]
    for fmt in ("csv", "parquet"):
        code, output = sql(
            warehouse, "SELECT 1", "--format", fmt, "--out", str(path), capsys=capsys
        )
        assert code == 1 and "refusing to write over the warehouse" in output
    assert digests(warehouse.parent) == before
    assert target != "wal" or not path.exists()


def test_queries_and_full_text_search_still_work(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = (
        "SHOW TABLES",
        "DESCRIBE articles",
        "SUMMARIZE SELECT relevance FROM articles",
        "FROM articles SELECT count(*)",
        "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
        "EXPLAIN SELECT * FROM articles",
        "PRAGMA table_info('articles')",
        "SELECT count(*) FROM articles "
        "WHERE fts_main_articles.match_bm25(article_id, 'drones') IS NOT NULL",
        "CREATE TEMP TABLE x AS SELECT 1",  # refused: not a query (listed to be explicit)
    )
    for query in queries[:-1]:
        code, output = sql(warehouse, query, capsys=capsys)
        assert code == 0, (query, output)
    code, output = sql(warehouse, queries[-1], capsys=capsys)
    assert code == 1 and "CREATE statements are not run" in output


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "select 1; select 2",
        "VALUES (1)",
        "SHOW TABLES",
        "PIVOT (SELECT 1 AS a) ON a",
    ],
)
def test_check_query_allows_queries(query: str) -> None:
    with duckdb.connect() as con:
        check_query(con, query)


@pytest.mark.parametrize(
    "query",
    [
        "COPY (SELECT 1) TO 'x.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
        "SELECT 1; ATTACH 'x.duckdb'",
        "CALL checkpoint()",
        "SET threads = 1",
        "BEGIN",
        "PREPARE p AS SELECT 1",
        "CREATE TYPE t AS ENUM ('x')",
        "CREATE TEMP TABLE t AS SELECT 1",
        "",
    ],
)
def test_check_query_refuses_everything_else(query: str) -> None:
    from newswatch.core.errors import WarehouseError

    with duckdb.connect() as con, pytest.raises(WarehouseError):
        check_query(con, query)


def test_every_documented_query_runs_in_the_shell(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/QUERIES.md's SQL blocks are what analysts paste into `newswatch sql`: each one
    passes the statement check and runs on the sealed connection."""
    import re

    doc = Path(__file__).resolve().parent.parent / "docs" / "QUERIES.md"
    blocks = re.findall(r"```sql\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 12
    for block in blocks:
        code, output = sql(warehouse, block, "--format", "csv", capsys=capsys)
        assert code == 0, (block, output)
