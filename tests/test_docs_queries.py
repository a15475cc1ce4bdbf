"""Every SQL block of docs/QUERIES.md runs on the sample database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.warehouse import search
from newswatch.warehouse.db import connect
from newswatch.warehouse.sample import build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot

QUERIES_MD = Path(__file__).resolve().parent.parent / "docs" / "QUERIES.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)
BLOCKS = SQL_BLOCK.findall(QUERIES_MD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("docs") / "newswatch.duckdb"
    build_sample_db(db)
    return publish_snapshot(db).path


def test_queries_doc_has_examples() -> None:
    assert len(BLOCKS) >= 12


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_documented_query_runs(sample_db: Path, sql: str) -> None:
    with connect(sample_db, read_only=True) as con:
        search.load_extension(con)
        rows = con.sql(sql).fetchall()
    if "alerts" not in sql and "consecutive_failures" not in sql:
        assert rows, "the example returns rows on the sample database"
