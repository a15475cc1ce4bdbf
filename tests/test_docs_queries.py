"""Every SQL block of docs/QUERIES.md runs on the warehouse the bundled sample gives
(`newswatch run --sample`) and returns at least one row there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.warehouse import search
from newswatch.warehouse.db import connect
from tests.sample_warehouse import build_bundled_sample

QUERIES_MD = Path(__file__).resolve().parent.parent / "docs" / "QUERIES.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)
BLOCKS = SQL_BLOCK.findall(QUERIES_MD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample_db(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundled_sample(tmp_path_factory.mktemp("docs"))


def test_queries_doc_has_examples() -> None:
    assert len(BLOCKS) >= 17


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_documented_query_returns_rows_on_the_bundled_sample(sample_db: Path, sql: str) -> None:
    with connect(sample_db, read_only=True) as con:
        search.load_extension(con)
        rows = con.sql(sql).fetchall()
    assert rows, "the example returns no row on the bundled sample"
