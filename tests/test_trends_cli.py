"""``newswatch trends`` and the series macros on the warehouse the bundled sample gives: every
period of the window (zeros included), the window on stderr, names through aliases in any
script, and the same answers from the CLI and from SQL."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.warehouse import migrations
from newswatch.warehouse.db import connect
from tests.sample_warehouse import build_bundled_sample

ALABUGA = "alabuga-sez"  # seeds/entities.toml; the sample matches its aliases Алабуга, آلابوگا
NEWEST = date(2026, 11, 20)  # the sample's newest article (seeds/sample)


@pytest.fixture(scope="module")
def sample(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live file (its snapshot beside it, which the CLI reads)."""
    snapshot = build_bundled_sample(tmp_path_factory.mktemp("trends"))
    return snapshot.with_name("newswatch.duckdb")


def trends(sample: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["trends", *args, "--db", str(sample)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weekly_csv(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(out.splitlines()))


def stored_mentions(sample: Path, first: date, last: date) -> int:
    with connect(sample, read_only=True) as con:
        row = con.execute(
            "SELECT coalesce(sum(count), 0) FROM mentions "
            "WHERE entity_id = $e AND published_day BETWEEN $a AND $b",
            {"e": ALABUGA, "a": first, "b": last},
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_cyrillic_alias_gives_one_row_per_week_with_zeros_and_the_window(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = trends(
        sample, capsys, "Алабуга", "--by", "week", "--since", "2026-08-19", "--format", "csv"
    )
    rows = weekly_csv(out)
    periods = [date.fromisoformat(r["period"]) for r in rows]
    assert code == 0
    assert periods[0] == date(2026, 8, 17)  # the Monday of 2026-08-19's week
    assert periods[-1] == date(2026, 11, 16)  # the week of the newest article
    assert all(b - a == timedelta(days=7) for a, b in pairwise(periods))
    assert len(rows) == 14
    assert any(r["mentions"] == "0" for r in rows) and any(r["mentions"] != "0" for r in rows)
    assert sum(int(r["mentions"]) for r in rows) == stored_mentions(
        sample, date(2026, 8, 17), NEWEST
    )
    assert f'{ALABUGA} (Alabuga Special Economic Zone; alias "Алабуга")' in err
    assert "weekly, 2026-08-17 .. 2026-11-20, 14 weeks" in err
    assert "--since 2026-08-19 moved back to the first day of its week" in err


def test_the_default_window_is_printed_and_stdout_stays_machine_clean(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = trends(sample, capsys, ALABUGA, "--by", "week", "--format", "json")
    series = json.loads(out)  # nothing but the series on stdout
    first = NEWEST - timedelta(days=90)
    first -= timedelta(days=first.weekday())
    assert code == 0
    assert series[0]["period"] == first.isoformat()
    assert series[-1]["period"] == (NEWEST - timedelta(days=NEWEST.weekday())).isoformat()
    assert f"default window: 90 days before the newest article ({NEWEST}) to it" in err
    assert f"weekly, {first} .. {NEWEST}, {len(series)} weeks" in err


@pytest.mark.parametrize("name", ["alabuga-sez", "АЛАБУГА", "алабуга", "آلابوگا", "ALABUGA"])
def test_every_spelling_gives_the_same_series_as_the_macro(
    sample: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = trends(
        sample, capsys, name, "--by", "month", "--since", "2026-06-01", "--format", "json"
    )
    with connect(sample, read_only=True) as con:
        by_sql = con.execute(
            "SELECT CAST(period AS VARCHAR), mentions, articles, stories "
            "FROM entity_series($name, 'month', '2026-06-01')",
            {"name": name},
        ).fetchall()
    rows = [(r["period"], r["mentions"], r["articles"], r["stories"]) for r in json.loads(out)]
    assert code == 0
    assert rows == by_sql
    assert [p for p, *_ in rows] == [f"2026-{m:02d}-01" for m in range(6, 12)]


def test_daily_series_from_the_rollup_is_dense_and_equals_the_base_tables(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--by", "day", "--since", "2026-09-20", "--until", "2026-10-05", "--format", "json")
    code, out, err = trends(sample, capsys, "Алабуга", *args)
    with connect(sample, read_only=True) as con:
        base = con.execute(
            "SELECT CAST(period AS VARCHAR), mentions, articles, stories "
            "FROM entity_series('Алабуга', 'day', '2026-09-20', '2026-10-05')"
        ).fetchall()
    rows = [(r["period"], r["mentions"], r["articles"], r["stories"]) for r in json.loads(out)]
    assert code == 0
    assert rows == base
    assert len(rows) == 16  # 2026-09-20 .. 2026-10-05, both counted
    assert [r for r in rows if r[1]] == [("2026-09-29", 1, 1, 1)]
    assert "daily, 2026-09-20 .. 2026-10-05, 16 days" in err


def test_a_catalogue_alias_no_article_matched_is_refused_with_its_entity(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = trends(sample, capsys, "Alabuga SEZ")
    assert code == 1 and out == ""
    assert "unknown entity 'Alabuga SEZ'" in err
    assert f"alias of {ALABUGA}" in err


def test_unknown_names_give_no_rows_in_sql_and_an_error_in_the_cli(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = trends(sample, capsys, "no-such-thing")
    with connect(sample, read_only=True) as con:
        rows = con.execute("FROM entity_series('no-such-thing', 'week', '2026-06-01')").fetchall()
        of = con.execute("SELECT entity_of('Алабуга'), entity_of('no-such-thing')").fetchone()
    assert code == 1 and "unknown entity" in err
    assert rows == []
    assert of == (ALABUGA, None)


def test_an_older_file_gets_the_dense_macros_when_a_writer_opens_it(
    sample: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old.duckdb"
    old.write_bytes(sample.read_bytes())
    sparse = """
        CREATE OR REPLACE MACRO entity_series(entity, bucket, since) AS TABLE
        SELECT date_trunc(bucket, published_day)::DATE AS period, CAST(sum(count) AS BIGINT)
               AS mentions, count(*) AS articles, count(*) AS stories
        FROM mentions WHERE entity_id = entity AND published_day >= CAST(since AS DATE)
        GROUP BY 1 ORDER BY 1
    """  # the definition migration 3 made before migration 8
    with connect(old) as con:
        con.execute(sparse)
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
        before = con.execute(f"FROM entity_series('{ALABUGA}', 'week', '2026-06-01')").fetchall()
    assert len(before) < 20  # sparse: the weeks that mention it
    with connect(old) as con:  # a writer: pending migrations run
        assert 8 in migrations.applied_versions(con)
        rows = con.execute(f"FROM entity_series('{ALABUGA}', 'week', '2026-06-01')").fetchall()
    assert len(rows) == 25  # 2026-06-01 .. the week of 2026-11-20
