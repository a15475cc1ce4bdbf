"""The analyst's snapshot, offline BM25 search and the four analyst commands."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.core.settings import Settings, default_snapshot_path
from newswatch.warehouse import search
from newswatch.warehouse.db import connect
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.sample import build_sample_db, sample_batches
from newswatch.warehouse.snapshot import publish_snapshot


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sample") / "newswatch.duckdb"
    build_sample_db(db)
    publish_snapshot(db)
    return db


def article_count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]


def test_a_run_succeeds_while_an_analyst_holds_the_snapshot_open(tmp_path: Path) -> None:
    db = tmp_path / "newswatch.duckdb"
    staging = tmp_path / "staging"
    first, second = sample_batches(days=14, per_day=3)[:2]
    stage_batch(first, staging)
    load_staged(db, staging)
    snapshot = publish_snapshot(db).path
    script = (
        "import sys, duckdb\n"
        f"con = duckdb.connect({str(snapshot)!r}, read_only=True)\n"
        "count = lambda: con.execute('SELECT count(*) FROM articles').fetchone()[0]\n"
        "print(count(), flush=True)\n"
        "sys.stdin.readline()\n"
        "print(count(), flush=True)\n"
    )
    analyst = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert analyst.stdin is not None and analyst.stdout is not None
    try:
        before = int(analyst.stdout.readline())
        stage_batch(second, staging)
        report = load_staged(db, staging, lock_timeout=2)
        published = publish_snapshot(db, lock_timeout=2)
        analyst.stdin.write("again\n")
        analyst.stdin.flush()
        still = int(analyst.stdout.readline())
    finally:
        analyst.stdin.close()
        analyst.wait(timeout=30)

    assert not report.locked and report.batches_loaded == 1
    assert before == still == len(first.articles)
    assert article_count(published.path) == len(first.articles) + len(second.articles)


def test_snapshot_sits_beside_the_database(tmp_path: Path) -> None:
    assert default_snapshot_path(tmp_path / "nw.duckdb") == tmp_path / "nw.snapshot.duckdb"
    # writer (settings.snapshot_path) and readers (sql, report) use one rule: they used to
    # disagree for a database not named *.duckdb (x.snapshot.db vs x.snapshot.duckdb)
    settings = Settings(db_path=tmp_path / "nw.db")
    assert settings.snapshot_path == default_snapshot_path(settings.db_path)
    assert settings.snapshot_path == tmp_path / "nw.snapshot.db"


def test_the_search_index_is_built_on_the_snapshot_not_the_live_file(sample_db: Path) -> None:
    with connect(sample_db, read_only=True) as live:
        live_indexed = search.has_index(live)
    with connect(default_snapshot_path(sample_db), read_only=True) as snapshot:
        snapshot_indexed = search.has_index(snapshot)
    assert (live_indexed, snapshot_indexed) == (False, True)


def test_search_on_the_live_file_explains_where_the_index_is(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["search", "Alabuga", "--live", "--db", str(sample_db)], capsys)
    assert code == 1
    assert "snapshot" in err


def test_search_ranks_matching_articles_offline_in_any_script(sample_db: Path) -> None:
    with connect(default_snapshot_path(sample_db), read_only=True) as con:
        latin = search.search(con, "Alabuga factory", limit=5)
        cyrillic = search.search(con, "Алабуге", limit=5)
        nothing = search.search(con, "zzzqqq", limit=5)
    assert latin and all("Alabuga" in (hit.title or "") for hit in latin[:3])
    assert cyrillic and {hit.outlet for hit in cyrillic} == {"Meduza"}
    assert nothing == []
    assert search.extension_path().is_file()


def test_search_scores_equal_the_extensions_own_bm25(sample_db: Path) -> None:
    query = "Alabuga factory drones"
    with connect(default_snapshot_path(sample_db), read_only=True) as con:
        ours = {h.article_id: round(h.score, 9) for h in search.search(con, query, limit=1000)}
        reference = dict(
            con.execute(
                "SELECT article_id, round(s, 9) FROM (SELECT article_id, "
                "fts_main_articles.match_bm25(article_id, ?) AS s FROM articles) "
                "WHERE s IS NOT NULL",
                [query],
            ).fetchall()
        )
    assert len(ours) > 10
    assert ours == reference


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sql_command_writes_csv_json_and_parquet(
    sample_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "SELECT outlet, count(*) AS n FROM articles GROUP BY 1 ORDER BY 1"
    code, out, _ = run_cli(["sql", query, "--db", str(sample_db), "--format", "csv"], capsys)
    rows = list(csv.reader(out.splitlines()))
    code_json, out_json, _ = run_cli(
        ["sql", query, "--db", str(sample_db), "--format", "json"], capsys
    )
    target = tmp_path / "out.parquet"
    code_pq, _, _ = run_cli(
        ["sql", query, "--db", str(sample_db), "--format", "parquet", "--out", str(target)],
        capsys,
    )
    assert code == code_json == code_pq == 0
    assert rows[0] == ["outlet", "n"] and len(rows) == 5
    assert [r["outlet"] for r in json.loads(out_json)] == [r[0] for r in rows[1:]]
    assert duckdb.sql(f"SELECT count(*) FROM '{target}'").fetchone() == (4,)


def test_sql_command_refuses_writes(sample_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        ["sql", "DELETE FROM articles", "--db", str(sample_db), "--live"], capsys
    )
    assert code == 1
    assert "read-only" in err
    assert article_count(sample_db) > 0


def test_trends_accepts_an_entity_name_and_buckets_by_week(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        [
            "trends",
            "geran-2",
            "--by",
            "week",
            "--since",
            "2025-03-01",
            "--db",
            str(sample_db),
            "--format",
            "json",
        ],
        capsys,
    )
    by_name = run_cli(
        [
            "trends",
            "Geran-2",
            "--by",
            "week",
            "--since",
            "2025-03-01",
            "--db",
            str(sample_db),
            "--format",
            "json",
        ],
        capsys,
    )[1]
    series = json.loads(out)
    assert code == 0
    assert series == json.loads(by_name)
    assert [row["period"] for row in series][:2] == ["2025-02-24", "2025-03-03"]
    assert all(row["articles"] >= row["stories"] > 0 for row in series)


def test_daily_trends_from_the_rollup_equal_the_base_table_series(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--since", "2025-03-01", "--db", str(sample_db), "--format", "json"]
    code, out, _ = run_cli(["trends", "alabuga", "--by", "day", *base], capsys)
    with connect(sample_db, read_only=True) as con:
        expected = con.execute(
            "SELECT CAST(period AS VARCHAR), mentions, articles, stories "
            "FROM entity_series('alabuga', 'day', '2025-03-01')"
        ).fetchall()
    rows = [(r["period"], r["mentions"], r["articles"], r["stories"]) for r in json.loads(out)]
    assert code == 0
    assert rows == expected
    assert len(rows) > 10


def test_trends_accepts_a_unique_prefix_and_lists_ambiguous_ones(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["trends", "strategic", "--db", str(sample_db), "--format", "csv"], capsys
    )
    ambiguous_code, _, err = run_cli(["trends", "h", "--db", str(sample_db)], capsys)
    assert code == 0 and out.startswith("period,mentions,articles,stories")
    assert ambiguous_code == 1
    assert "hezbollah" in err and "houthis" in err


def test_trends_of_an_unknown_entity_says_so(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["trends", "no-such-thing", "--db", str(sample_db)], capsys)
    assert code == 1
    assert "unknown entity" in err


def test_search_command_lists_best_matches(
    sample_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        ["search", "Alabuga factory", "--limit", "2", "--db", str(sample_db), "--format", "json"],
        capsys,
    )
    hits = json.loads(out)
    assert code == 0
    assert len(hits) == 2
    assert all("Alabuga" in hit["title"] for hit in hits)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_one_file_per_table(
    sample_db: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "export"
    code, _, _ = run_cli(
        ["export", "--format", fmt, "--out", str(out_dir), "--db", str(sample_db)], capsys
    )
    files = {p.name for p in out_dir.iterdir()}
    assert code == 0
    assert {f"articles.{fmt}", f"mentions.{fmt}", f"runs.{fmt}"} <= files
    exported = duckdb.sql(f"SELECT count(*) FROM '{out_dir / f'articles.{fmt}'}'").fetchone()
    assert exported == (article_count(sample_db),)
