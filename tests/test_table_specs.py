"""One declaration per table (core/tables.py): the DDL, the Arrow staging schema
and the record dataclasses must agree with it, and with what the migrations really build."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from newswatch.core import records as models
from newswatch.core import tables
from newswatch.core.tables import TABLE_SPECS, TABLES, Column, create_table_sql
from newswatch.warehouse import migrations, staging
from newswatch.warehouse.sample import sample_batches

# What DuckDB reports for a column: (name, type, notnull, default, pk) in table order.
Info = list[tuple[str, str, bool, str | None, bool]]


def _table_info(con: duckdb.DuckDBPyConnection, table: str) -> Info:
    rows = con.execute(f"PRAGMA table_info('{table}')").fetchall()
    return [(r[1], r[2], bool(r[3]), r[4], bool(r[5])) for r in rows]


def _constraints(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT constraint_type, constraint_text FROM duckdb_constraints() "
        "WHERE table_name = ? ORDER BY 1, 2",
        [table],
    ).fetchall()
    return [(str(t), str(x)) for t, x in rows]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("migrated") / "w.duckdb"
    con = duckdb.connect(str(path))
    migrations.apply(con)
    yield con
    con.close()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    path = tmp_path_factory.mktemp("fresh") / "w.duckdb"
    con = duckdb.connect(str(path))
    for spec in TABLES:
        con.execute(create_table_sql(spec))
    yield con
    con.close()


def _base_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def test_every_migrated_table_has_a_spec(migrated: duckdb.DuckDBPyConnection) -> None:
    # entity_daily is the trend rollup (warehouse/trends.py), schema_migrations the ledger
    derived = {"schema_migrations", "entity_daily"}
    assert _base_tables(migrated) - derived == set(TABLE_SPECS)


@pytest.mark.parametrize("table", sorted(TABLE_SPECS))
def test_generated_ddl_equals_the_migrated_table(
    table: str, migrated: duckdb.DuckDBPyConnection, fresh: duckdb.DuckDBPyConnection
) -> None:
    assert _table_info(fresh, table) == _table_info(migrated, table)
    assert _constraints(fresh, table) == _constraints(migrated, table)
    spec = TABLE_SPECS[table]
    info = _table_info(migrated, table)
    # (types are compared through the generated DDL above: DuckDB reports its own spelling)
    assert [(c.name, not c.nullable, c.primary_key) for c in spec.columns] == [
        (n, nn, pk) for n, _, nn, _, pk in info
    ]


@pytest.mark.parametrize("table", sorted(t.name for t in TABLES if t.staged_as))
def test_staged_columns_are_table_columns_of_compatible_type(
    table: str, migrated: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    spec = TABLE_SPECS[table]
    assert spec.staged_as is not None
    schema = staging.SCHEMAS[spec.staged_as]
    types = {n: t for n, t, *_ in _table_info(migrated, table)}
    renamed = {c.staged_name: c.name for c in spec.columns}
    for f in schema:
        assert renamed[f.name] in types, f"{spec.staged_as}.{f.name} is not a column of {table}"
    # DuckDB itself reads an (empty) staged file as the table's types
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist([], schema=schema), path)
    got = migrated.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [(renamed[r[0]], r[1]) for r in got] == [
        (renamed[f.name], types[renamed[f.name]]) for f in schema
    ]


def test_staging_schemas_are_the_specs() -> None:
    assert tables.staging_schemas() == staging.SCHEMAS
    assert set(staging.SCHEMAS) == {t.staged_as for t in TABLES if t.staged_as}


# How each staged file's row is built from its record (warehouse/staging.py's _table_rows):
# record type, renames {field: column}, fields not stored, columns staging adds. A record field
# missing here and from the spec fails below (pyarrow would otherwise drop it silently).
RECORDS: dict[str, tuple[type, dict[str, str], set[str], set[str]]] = {
    "runs": (models.RunRecord, {}, set(), {"staged_at"}),
    # sitemap: backfill's configuration, read from sources.toml, never stored
    "sources": (models.Source, {"id": "source_id"}, {"sitemap"}, set()),
    "feed_states": (models.FeedState, {}, set(), set()),
    # entries are staged as articles; the cadence hints feed feed_state.next_poll_at
    "feed_polls": (
        models.FeedPoll,
        {},
        {"entries", "declared_interval_s", "cache_lifetime_s"},
        {"run_id", "entry_count"},
    ),
    "articles": (models.ArticleRecord, {}, set(), {"run_id"}),
    "article_aliases": (models.ArticleAliasRecord, {}, set(), {"run_id"}),
    "page_failures": (models.PageFailureRecord, {}, set(), {"run_id"}),
    "alerts": (models.AlertRecord, {}, set(), set()),
    "entities": (models.EntityRecord, {"id": "entity_id"}, set(), set()),
    "mentions": (models.MentionRecord, {}, set(), set()),
    "emerging_terms": (models.EmergingTermRecord, {}, set(), set()),
}


@pytest.mark.parametrize("staged", sorted(RECORDS))
def test_record_fields_map_onto_the_staged_columns(staged: str) -> None:
    record, renames, dropped, added = RECORDS[staged]
    fields = {f.name for f in dataclasses.fields(record)} - dropped
    mapped = {renames.get(f, f) for f in fields} | added
    assert mapped == set(staging.SCHEMAS[staged].names)


def test_staged_rows_have_exactly_the_staged_columns() -> None:
    batch = sample_batches(days=7, per_day=2)[-1]
    rows = staging._table_rows(batch, batch.run.started_at)
    assert set(rows) == set(staging.SCHEMAS)
    for table, records in rows.items():
        for row in records:
            extra = set(row) - set(staging.SCHEMAS[table].names) - RECORDS[table][2]
            assert not extra, f"{table}: staged row has columns the spec lacks: {extra}"
            assert set(staging.SCHEMAS[table].names) <= set(row), table


def test_adding_a_column_to_a_spec_changes_ddl_and_staging_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = TABLE_SPECS["articles"]
    grown = spec.with_column(Column("word_count", "INTEGER"))
    monkeypatch.setattr(
        tables, "TABLES", tuple(grown if t.name == "articles" else t for t in tables.TABLES)
    )

    ddl = create_table_sql(grown)
    assert "word_count INTEGER" in ddl and "word_count" not in create_table_sql(spec)
    schemas = tables.staging_schemas(tables.TABLES)
    assert schemas["articles"].field("word_count").type == pa.int32()
    assert schemas["articles"].names == [*staging.SCHEMAS["articles"].names, "word_count"]

    con = duckdb.connect(str(tmp_path / "grown.duckdb"))
    con.execute(ddl)
    assert _table_info(con, "articles")[-1] == ("word_count", "INTEGER", False, None, False)
    con.close()
    # and the unchanged migrations now disagree with the spec: the check above would fail
    mig = duckdb.connect(str(tmp_path / "mig.duckdb"))
    migrations.apply(mig)
    assert "word_count" not in [c[0] for c in _table_info(mig, "articles")]
    mig.close()
