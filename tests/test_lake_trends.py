"""The lake's trend macros with fewer table scans (issue 16) give what they gave before.

``entity_match`` (the lookup without the names' join, its best rank by a window),
``entity_of`` on it and ``entity_daily_series`` resolving its window once replaced macros
that planned the entities, mentions and articles scans two or three times each; on a lake
every scan is a dozen catalog reads. Here the previous macros, frozen as they were (commit
edeee78) under ``old_*`` names, run beside the new ones on a lake loaded by the real
``load_staged`` from the warehouse bench's generator, and every answer must be the same:
ids, names, case and spaces, an ambiguous alias (the error), an unknown name, a window with
and without its last day. And a reading connection gets the reader's threads.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bench.warehouse.run import entity_rows, generate_batch
from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import connect
from newswatch.warehouse.lake import READER_THREADS_ENV, reader_threads
from newswatch.warehouse.load import load_entities, load_staged

# fmt: off
OLD_MACROS = (
    """
    CREATE OR REPLACE TEMP MACRO old_entity_lookup(q) AS TABLE
    WITH wanted AS (SELECT lower(trim(CAST(q AS VARCHAR))) AS k),
    named AS (
        SELECT e.entity_id,
               CASE WHEN lower(e.entity_id) = w.k THEN 1 ELSE 2 END         AS rank,
               CASE WHEN lower(e.entity_id) = w.k THEN e.entity_id ELSE e.name END
                                                                           AS matched
        FROM entities AS e, wanted AS w
        WHERE lower(e.entity_id) = w.k OR lower(e.name) = w.k
    ),
    -- empty when an id or name fitted: the joins below then never read mentions
    unnamed AS (SELECT k FROM wanted WHERE NOT EXISTS (SELECT 1 FROM named)),
    recorded AS (
        SELECT m.entity_id, 3 AS rank, any_value(m.alias) AS matched
        FROM mentions AS m JOIN unnamed AS u ON lower(m.alias) = u.k
        GROUP BY 1
        UNION ALL
        SELECT m.entity_id, 1 AS rank, any_value(m.entity_id) AS matched
        FROM mentions AS m JOIN unnamed AS u ON lower(m.entity_id) = u.k
        GROUP BY 1
    ),
    best AS (
        SELECT entity_id, min(rank) AS rank, arg_min(matched, rank) AS matched
        FROM (SELECT * FROM named UNION ALL SELECT * FROM recorded)
        GROUP BY 1
    )
    SELECT b.entity_id,
           coalesce(e.name, b.entity_id)                              AS name,
           CASE b.rank WHEN 1 THEN 'id' WHEN 2 THEN 'name' ELSE 'alias' END AS matched_as,
           b.matched
    FROM best AS b
    LEFT JOIN entities AS e USING (entity_id)
    WHERE b.rank = (SELECT min(rank) FROM best)
    ORDER BY b.entity_id
    """,
    """
    CREATE OR REPLACE TEMP MACRO old_entity_of(q) AS (
        SELECT CASE count(*)
                   WHEN 0 THEN CAST(NULL AS VARCHAR)
                   WHEN 1 THEN min(entity_id)
                   ELSE error('entity ' || any_value(matched) || ' is ambiguous: '
                              || string_agg(entity_id, ', ' ORDER BY entity_id))
               END
        FROM old_entity_lookup(q)
    )
    """,
    """
    CREATE OR REPLACE TEMP MACRO old_entity_daily_series(entity, since, until := '') AS TABLE
    WITH target AS (SELECT old_entity_of(entity) AS entity_id),
    daily AS (
        SELECT r.day, r.mentions, r.articles, r.stories
        FROM entity_daily AS r
        CROSS JOIN trend_window('day', since, until) AS w
        WHERE r.entity_id = (SELECT entity_id FROM target)
          AND r.day BETWEEN w.first_day AND w.last_day
    )
    SELECT p.period                          AS day,
           coalesce(r.mentions, 0)           AS mentions,
           coalesce(r.articles, 0)           AS articles,
           coalesce(r.stories, 0)            AS stories
    FROM trend_periods('day', since, until) AS p
    SEMI JOIN target ON target.entity_id IS NOT NULL
    LEFT JOIN daily AS r ON r.day = p.period
    ORDER BY 1
    """,
)
# fmt: on


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("lake-trends")
    db = home / "newswatch.lake.sqlite"
    with connect(db) as con:
        # a name that is another entity's id: 'e001' then fits two ranks, the id wins
        twin = {"id": "x-twin", "name": "e001", "type": "organisation", "side": "other"}
        load_entities(con, [*entity_rows(), twin], version="test")
    staging = home / "staging"
    for index in range(2):
        generate_batch(staging, index, index * 600, 600, 1200)
    report = load_staged(db, staging)
    assert report.batches_loaded == 2, report.message
    return db


def answer(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> object:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        return ("error", type(exc).__name__, str(exc).splitlines()[0])


def test_the_new_trend_macros_answer_as_the_old_ones(sample_lake: Path) -> None:
    con = connect(sample_lake, read_only=True)
    try:
        for sql in OLD_MACROS:
            con.execute(sql)
        alias = con.execute("SELECT min(alias) FROM mentions WHERE alias IS NOT NULL").fetchone()
        assert alias and alias[0]
        names = ["e001", "E007", "  e150 ", "Entity 4", "ENTITY 41", alias[0], "no such entity"]
        windows = [
            ("$since", {"since": date(2025, 1, 1)}),
            ("$since, $until", {"since": date(2025, 2, 3), "until": date(2025, 5, 1)}),
            ("$since", {"since": date(2024, 12, 20)}),
        ]
        errors = series_rows = 0
        for name in names:
            p = {"q": name}
            for new, old in [
                ("SELECT * FROM entity_lookup($q)", "SELECT * FROM old_entity_lookup($q)"),
                ("SELECT entity_of($q)", "SELECT old_entity_of($q)"),
            ]:
                assert answer(con, new, p) == answer(con, old, p), (name, new)
            for args, params in windows:
                params = {**params, "q": name}
                new = answer(con, f"SELECT * FROM entity_daily_series($q, {args})", params)
                old = answer(con, f"SELECT * FROM old_entity_daily_series($q, {args})", params)
                assert new == old, (name, args)
                if isinstance(new, tuple):
                    errors += 1
                else:
                    series_rows += len(new)  # type: ignore[arg-type]
        # the comparison saw real series and the ambiguous alias's error, not only empties
        assert errors == len(windows)
        assert series_rows > 1000
        assert con.execute("SELECT entity_of('e001')").fetchone() == ("e001",)
        assert len(con.execute("SELECT * FROM old_entity_lookup('e001')").fetchall()) == 1
        busy = con.execute("SELECT * FROM entity_daily_series('e001', $s)", {"s": date(2025, 1, 1)})
        assert any(row[1] > 0 for row in busy.fetchall())
    finally:
        con.close()


def test_a_reading_connection_uses_the_readers_threads(
    sample_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(READER_THREADS_ENV, raising=False)
    assert reader_threads() == max(1, (os.cpu_count() or 2) // 2)
    monkeypatch.setenv(READER_THREADS_ENV, "3")
    with connect(sample_lake, read_only=True) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone() == (3,)
    with connect(sample_lake) as con:  # a writer keeps DuckDB's default
        default = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
        assert con.execute("SELECT current_setting('threads')").fetchone() == default
    monkeypatch.setenv(READER_THREADS_ENV, "none")
    with pytest.raises(WarehouseError, match=READER_THREADS_ENV):
        connect(sample_lake, read_only=True)
