"""`newswatch migrate-to-lake` (warehouse/lake_migrate.py): real DuckDB-file warehouses (the
deterministic sample, and one loaded by a real `newswatch run --sample`) into new lakes.

Each migration is checked three ways: its own per-table counts and order-free hashes, an
independent comparison of every table's sorted rows (tests/test_lake_load.table_state), and
the old file's bytes, which must not change. Then the lake answers the analyst commands.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import connect, open_duckdb
from newswatch.warehouse.lake import LakeConfig, search_index_path
from newswatch.warehouse.lake_migrate import migrate_to_lake, table_digest
from newswatch.warehouse.lake_schema import LAKE_TABLES
from newswatch.warehouse.sample import build_sample_db
from tests.test_lake_load import file_state, lake_state


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_sample_warehouse_moves_to_a_lake_with_nothing_lost(tmp_path: Path) -> None:
    old = tmp_path / "old" / "newswatch.duckdb"
    build_sample_db(old)
    fingerprint, expected = sha256(old), file_state(old, {})
    lake = tmp_path / "new" / "newswatch.lake.sqlite"
    connect(lake).close()  # an existing but empty lake is a fine target

    report = migrate_to_lake(old, lake)
    assert report.same
    assert {t.table for t in report.tables} == {t.name for t in LAKE_TABLES}
    assert report.not_copied == ("schema_migrations",) and report.missing == ()
    assert sum(t.lake_rows for t in report.tables) > 700
    assert lake_state(LakeConfig.for_path(lake), {}) == expected  # every row, every column
    assert sha256(old) == fingerprint  # the old file is only read
    assert (
        report.index.articles == dict((t.table, t.lake_rows) for t in report.tables)["articles"]
        and search_index_path(lake).is_file()
    )

    with pytest.raises(WarehouseError, match="already holds"):
        migrate_to_lake(old, lake)
    assert lake_state(LakeConfig.for_path(lake), {}) == expected  # nothing added twice
    with pytest.raises(WarehouseError, match=r"\.lake\.sqlite"):
        migrate_to_lake(old, tmp_path / "new.duckdb")
    with pytest.raises(WarehouseError, match="already a lake"):
        migrate_to_lake(lake, tmp_path / "other.lake.sqlite")
    with pytest.raises(WarehouseError, match="no warehouse file"):
        migrate_to_lake(tmp_path / "missing.duckdb", tmp_path / "other.lake.sqlite")


def test_the_content_hash_ignores_order_and_sees_one_changed_value(tmp_path: Path) -> None:
    with open_duckdb() as con:
        con.execute("CREATE TABLE t AS SELECT range AS n, 'v' || range AS s FROM range(1000)")
        con.execute("CREATE TABLE shuffled AS SELECT * FROM t ORDER BY hash(n * 7919)")
        con.execute("CREATE TABLE changed AS SELECT n, if(n = 500, 'x', s) AS s FROM t")
        columns = {"n": "BIGINT", "s": "VARCHAR"}
        original = table_digest(con, "t", columns)
        assert table_digest(con, "shuffled", columns) == original
        assert table_digest(con, "changed", columns) != original
        assert table_digest(con, "changed", columns)[0] == original[0] == 1000


@pytest.mark.slow
def test_a_run_loaded_warehouse_migrates_and_the_lake_answers_the_commands(
    tmp_path: Path, prefect_harness: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.sample_warehouse import build_bundled_sample

    build_bundled_sample(tmp_path)  # a real `run --sample` into tmp_path/newswatch.duckdb
    old = tmp_path / "newswatch.duckdb"
    fingerprint, expected = sha256(old), file_state(old, {})
    lake = tmp_path / "lake" / "newswatch.lake.sqlite"
    capsys.readouterr()
    assert main(["migrate-to-lake", "--db", str(old), "--to", str(lake)]) == 0
    out = capsys.readouterr().out
    assert "DIFFERENT" not in out and f"migrated: use --db {lake}" in out
    assert out.count(" same") == len(LAKE_TABLES)
    assert lake_state(LakeConfig.for_path(lake), {}) == expected
    assert sha256(old) == fingerprint
    assert main(["search", '"ghost fleet"', "--db", str(lake)]) == 0
    assert "[ghost fleet]" in capsys.readouterr().out
    assert main(["migrate-to-lake", "--db", str(old), "--to", str(lake)]) == 1  # refused
    assert "already holds" in capsys.readouterr().err
