"""The warehouse against real DuckDB files: migrations, staged idempotent loads, locks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.core.errors import WarehouseError, WarehouseLocked
from newswatch.core.records import FeedState, IngestBatch, MentionRecord
from newswatch.warehouse import migrations, queries
from newswatch.warehouse.db import connect
from newswatch.warehouse.load import load_entities, load_staged, stage_batch
from newswatch.warehouse.sample import SAMPLE_ENTITIES, sample_batches
from newswatch.warehouse.staging import staged_batches

TABLES = {
    "sources",
    "feed_state",
    "feed_polls",
    "articles",
    "entities",
    "mentions",
    "runs",
    "alerts",
    "emerging_terms",
    "schema_migrations",
}


def counts(db: Path) -> dict[str, int]:
    with connect(db, read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("articles", "mentions", "runs", "feed_polls", "sources", "feed_state")
        }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "newswatch.duckdb"


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    return tmp_path / "data" / "staging"


@pytest.fixture(scope="module")
def batches() -> list[IngestBatch]:
    return sample_batches(days=14, per_day=3)


@contextmanager
def process_holding(db: Path, *, read_only: bool) -> Iterator[subprocess.Popen[str]]:
    """A second process that keeps ``db`` open until we close its stdin."""
    script = (
        "import sys, duckdb\n"
        f"con = duckdb.connect({str(db)!r}, read_only={read_only})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "con.close()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def test_new_database_gets_every_table_and_migration_row(db: Path) -> None:
    with connect(db) as con:
        found = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        tables = {row[0] for row in found}
        applied = migrations.applied_versions(con)
        assert migrations.pending(con) == []
    assert tables >= TABLES
    assert applied == [m.version for m in migrations.MIGRATIONS]


def test_pending_lists_missing_steps_without_writing(db: Path) -> None:
    with connect(db, lock_timeout=1):
        pass
    import duckdb

    raw = duckdb.connect(str(db))
    raw.execute("DELETE FROM schema_migrations WHERE version = 3")
    names = [m.name for m in migrations.pending(raw)]
    names_again = [m.name for m in migrations.pending(raw)]
    rows = raw.execute("SELECT count(*) FROM schema_migrations").fetchone()
    raw.close()
    assert names == names_again == ["trend_views"]
    assert rows == (len(migrations.MIGRATIONS) - 1,)


def test_migrating_an_older_schema_keeps_its_data(db: Path) -> None:
    import duckdb

    db.parent.mkdir(parents=True)
    old = duckdb.connect(str(db))
    migrations.apply(old, up_to=1)
    old.execute(
        "INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, text, "
        "first_seen_at, published_day, status) VALUES ('a1', 's', 'Outlet', 'https://x/1', "
        "'https://x/1', 'Alabuga', TIMESTAMPTZ '2025-03-01 10:00:00+00', DATE '2025-03-01', 'ok')"
    )
    old.execute(
        "INSERT INTO mentions VALUES ('a1', 'alabuga', 2, 0, 'Alabuga', 'Alabuga', "
        "DATE '2025-03-01')"
    )
    old.close()

    with connect(db) as con:
        versions = migrations.applied_versions(con)
        article = con.execute("SELECT outlet, text FROM articles").fetchall()
        series = con.execute(
            "SELECT period, mentions FROM entity_series('alabuga', 'day', '2025-01-01')"
        ).fetchall()
        rollup = con.execute(
            "SELECT day, mentions, stories FROM entity_daily_series('alabuga', '2025-01-01')"
        ).fetchall()
    assert versions == [m.version for m in migrations.MIGRATIONS]
    assert article == [("Outlet", "Alabuga")]
    # dense series (migration 8): every day from 2025-01-01 to the newest article, 0 but one
    assert len(series) == len(rollup) == 60
    assert [(str(p), m) for p, m in series if m] == [("2025-03-01", 2)]
    assert [(str(d), m, s) for d, m, s in rollup if m] == [("2025-03-01", 2, 1)]


def test_database_from_a_newer_version_is_refused(db: Path) -> None:
    with connect(db) as con:
        con.execute(
            "INSERT INTO schema_migrations VALUES (999, 'from_the_future', ?)",
            [datetime(2030, 1, 1, tzinfo=UTC)],
        )
    with pytest.raises(WarehouseError, match="upgrade newswatch"):
        connect(db)


def test_loading_the_same_batch_twice_adds_no_rows(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    stage_batch(batches[0], staging)
    first = load_staged(db, staging)
    after_first = counts(db)
    stage_batch(batches[0], staging)
    second = load_staged(db, staging)

    assert first.batches_loaded == second.batches_loaded == 1
    assert first.articles_added == len(batches[0].articles) > 0
    assert first.mentions_added == len(batches[0].mentions) > 0
    assert (second.articles_added, second.mentions_added) == (0, 0)
    assert counts(db) == after_first
    assert staged_batches(staging) == []
    assert len(list((staging / "loaded").iterdir())) == 2


def test_batches_load_oldest_first_and_feed_state_keeps_the_newest_poll(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    for batch in batches:
        stage_batch(batch, staging)
    report = load_staged(db, staging)
    stale = replace(
        batches[0],
        run=replace(batches[0].run, run_id="late-old-run"),
        feed_states=tuple(replace(s, etag='"stale"') for s in batches[0].feed_states),
    )
    stage_batch(stale, staging)
    load_staged(db, staging)

    states = queries.feed_states(db)
    newest = batches[-1].feed_states[0]
    assert report.runs_loaded == tuple(b.run.run_id for b in batches)
    assert states[newest.source_id] == newest


def test_a_later_batch_replaces_an_articles_mentions_but_not_its_text(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    batch = batches[0]
    stage_batch(batch, staging)
    load_staged(db, staging)
    article = batch.articles[0]
    rematched = IngestBatch(
        run=replace(batch.run, run_id="rematch"),
        articles=(replace(article, text="changed text", relevance=0.01, on_topic=False),),
        mentions=(MentionRecord(article.article_id, "irgc", 5, 3, "the IRGC", "IRGC"),),
    )
    stage_batch(rematched, staging)
    report = load_staged(db, staging)

    with connect(db, read_only=True) as con:
        mentions = con.execute(
            "SELECT entity_id, count FROM mentions WHERE article_id = ?", [article.article_id]
        ).fetchall()
        stored = con.execute(
            "SELECT text, relevance, on_topic FROM articles WHERE article_id = ?",
            [article.article_id],
        ).fetchone()
    assert report.articles_added == 0
    assert mentions == [("irgc", 5)]
    assert stored == (article.text, 0.01, False)


@pytest.mark.parametrize("read_only", [True, False], ids=["analyst-reader", "other-writer"])
def test_load_while_another_process_holds_the_db_leaves_the_batch_staged(
    db: Path, staging: Path, batches: list[IngestBatch], read_only: bool
) -> None:
    stage_batch(batches[0], staging)
    load_staged(db, staging)
    stage_batch(batches[1], staging)

    with process_holding(db, read_only=read_only) as holder:
        report = load_staged(db, staging, lock_timeout=0.5)
        assert report.locked
        assert report.batches_loaded == 0
        assert report.batches_left == 1
        assert f"PID {holder.pid}" in report.message
        assert len(staged_batches(staging)) == 1

    after = load_staged(db, staging, lock_timeout=5)
    assert not after.locked
    assert after.batches_loaded == 1
    assert after.articles_added == len(batches[1].articles)
    assert counts(db)["articles"] == len(batches[0].articles) + len(batches[1].articles)


def test_connect_names_the_process_holding_the_lock(db: Path) -> None:
    with connect(db):
        pass
    with process_holding(db, read_only=False) as holder, pytest.raises(WarehouseLocked) as err:
        connect(db, lock_timeout=0.3)
    assert f"PID {holder.pid}" in str(err.value)


def test_a_damaged_staged_batch_is_rejected_and_the_others_load(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    damaged = stage_batch(batches[0], staging)
    stage_batch(batches[1], staging)
    articles = damaged / "articles.parquet"
    articles.write_bytes(articles.read_bytes()[:100])
    (staging / ".tmp-half-written").mkdir()

    report = load_staged(db, staging)

    assert report.batches_rejected == 1
    assert report.batches_loaded == 1
    assert "rejected" in report.message
    assert (staging / "rejected" / damaged.name).is_dir()
    assert counts(db)["articles"] == len(batches[1].articles)


def test_the_daily_rollup_matches_the_mentions_after_every_load(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    for batch in batches[:2]:
        stage_batch(batch, staging)
    load_staged(db, staging)
    article = batches[0].articles[-1]
    rematch = IngestBatch(
        run=replace(batches[0].run, run_id="rematch"),
        articles=(article,),
        mentions=(MentionRecord(article.article_id, "irgc", 7, 0, "IRGC", "IRGC"),),
    )
    stage_batch(rematch, staging)
    load_staged(db, staging)
    recomputed = """
        SELECT m.entity_id, m.published_day, sum(m.count), count(*),
               count(DISTINCT coalesce(a.story_id, a.article_id))
        FROM mentions m JOIN articles a USING (article_id) GROUP BY ALL ORDER BY ALL
    """
    with connect(db, read_only=True) as con:
        expected = con.execute(recomputed).fetchall()
        rollup = con.execute("SELECT * FROM entity_daily ORDER BY ALL").fetchall()
    assert rollup == expected
    assert any(row[0] == "irgc" and row[2] >= 7 for row in rollup)


def test_only_the_newest_loaded_batches_are_kept(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    for batch in batches:
        stage_batch(batch, staging)
    load_staged(db, staging, keep_loaded=1)
    kept = [p.name for p in (staging / "loaded").iterdir()]
    assert len(kept) == 1
    assert kept[0].endswith(batches[-1].run.run_id)


def test_staged_rows_equal_loaded_rows(db: Path, staging: Path, batches: list[IngestBatch]) -> None:
    for batch in batches:
        stage_batch(batch, staging)
    report = load_staged(db, staging)
    assert report.articles_added == sum(len(b.articles) for b in batches)
    assert report.mentions_added == sum(len(b.mentions) for b in batches)
    assert counts(db)["runs"] == len(batches)


def test_read_helpers_return_empty_results_before_the_first_load(db: Path) -> None:
    assert queries.feed_states(db) == {}
    assert queries.known_urls(db, ["https://example.org/a"]) == set()
    assert queries.story_signatures(db, datetime(2020, 1, 1, tzinfo=UTC)) == []
    assert not db.exists()


def test_read_helpers_see_loaded_urls_states_and_signatures(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    batch = batches[0]
    stage_batch(batch, staging)
    load_staged(db, staging)
    article = batch.articles[0]

    known = queries.known_urls(db, [article.url, "https://example.org/never-seen"])
    signatures = queries.story_signatures(db, article.first_seen_at - timedelta(seconds=1))
    states = queries.feed_states(db)

    assert known == {article.url}
    assert (article.article_id, article.story_id, article.story_signature) in signatures
    assert all(isinstance(s, FeedState) for s in states.values())
    assert set(states) == {s.source_id for s in batch.feed_states}


def test_the_batch_catalogue_is_upserted_with_the_runs_catalogue_version(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    from newswatch.core.records import EntityRecord

    first = replace(
        batches[0],
        run=replace(batches[0].run, catalogue_version="cat-1"),
        entities=(EntityRecord("alabuga", "Alabuga", "facility", "russia"),),
    )
    second = replace(
        batches[1],
        run=replace(batches[1].run, catalogue_version="cat-2"),
        entities=(
            EntityRecord("alabuga", "Alabuga SEZ", "facility", "russia"),
            EntityRecord("irgc", "IRGC", "organisation", "iran"),
        ),
    )
    for batch in (first, second):
        stage_batch(batch, staging)
    load_staged(db, staging)
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT entity_id, name, catalogue_version FROM entities ORDER BY 1"
        ).fetchall()
    assert rows == [("alabuga", "Alabuga SEZ", "cat-2"), ("irgc", "IRGC", "cat-2")]


def test_load_entities_upserts_by_id(db: Path) -> None:
    with connect(db) as con:
        load_entities(con, list(SAMPLE_ENTITIES), version="v1")
        renamed = [{**SAMPLE_ENTITIES[0], "name": "Shahed 136"}]
        load_entities(con, renamed, version="v2")
        rows = con.execute(
            "SELECT name, catalogue_version FROM entities WHERE entity_id = ?",
            [SAMPLE_ENTITIES[0]["id"]],
        ).fetchall()
        total = con.execute("SELECT count(*) FROM entities").fetchone()
    assert rows == [("Shahed 136", "v2")]
    assert total == (len(SAMPLE_ENTITIES),)


@pytest.mark.parametrize("step", [m.version for m in migrations.MIGRATIONS])
def test_database_reopens_after_a_kill_right_after_a_migration_step(db: Path, step: int) -> None:
    db.parent.mkdir(parents=True)
    script = (
        "import os, signal, duckdb\n"
        "from newswatch.warehouse import migrations\n"
        f"con = duckdb.connect({str(db)!r})\n"
        f"migrations.apply(con, up_to={step})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    repo = Path(__file__).resolve().parent.parent
    killed = subprocess.run([sys.executable, "-c", script], cwd=repo, timeout=60, check=False)
    assert killed.returncode == -9

    with connect(db) as con:
        applied = migrations.applied_versions(con)
    assert applied == [m.version for m in migrations.MIGRATIONS]


def test_staging_failure_leaves_no_partial_batch(
    staging: Path, batches: list[IngestBatch], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import pyarrow.parquet as pq

    calls = {"n": 0}
    real_write = pq.write_table

    def write_then_fail(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq, "write_table", write_then_fail)
    with pytest.raises(WarehouseError, match="No space left"):
        stage_batch(batches[0], staging)
    assert list(staging.iterdir()) == []


def test_load_refuses_to_start_without_free_space(
    db: Path,
    staging: Path,
    batches: list[IngestBatch],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil
    from collections import namedtuple

    stage_batch(batches[0], staging)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9, 1024))
    report = load_staged(db, staging)
    assert report.batches_loaded == 0
    assert report.batches_left == 1
    assert "free disk space" in report.message
    assert not db.exists()


@pytest.fixture(scope="module")
def clean_load(
    tmp_path_factory: pytest.TempPathFactory, batches: list[IngestBatch]
) -> dict[str, list[tuple[object, ...]]]:
    root = tmp_path_factory.mktemp("clean")
    for batch in batches:
        stage_batch(batch, root / "staging")
    load_staged(root / "clean.duckdb", root / "staging")
    return table_rows(root / "clean.duckdb")


@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_any_split_and_replay_of_the_batches_converges_to_one_clean_load(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[IngestBatch],
    clean_load: dict[str, list[tuple[object, ...]]],
    data: st.DataObject,
) -> None:
    """Loading the batches in any grouping, with any of them staged again, gives the same
    tables as loading each once."""
    root = tmp_path_factory.mktemp("prop")

    replays = data.draw(st.lists(st.sampled_from(batches), max_size=3), label="replayed")
    cuts = data.draw(st.sets(st.integers(1, len(batches) - 1)), label="load after batch")
    db, staging = root / "messy.duckdb", root / "messy-staging"
    for index, batch in enumerate(batches, start=1):
        stage_batch(batch, staging)
        if index in cuts:
            load_staged(db, staging)
    for batch in replays:
        stage_batch(batch, staging)
    load_staged(db, staging)

    assert table_rows(db) == clean_load


def table_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    queries_by_table = {
        "articles": "SELECT * EXCLUDE (run_id) FROM articles ORDER BY article_id",
        "mentions": "SELECT * FROM mentions ORDER BY article_id, entity_id",
        "entity_daily": "SELECT * FROM entity_daily ORDER BY entity_id, day",
        "feed_state": "SELECT * FROM feed_state ORDER BY source_id",
        "runs": "SELECT run_id, new_articles FROM runs ORDER BY run_id",
    }
    with connect(db, read_only=True) as con:
        return {t: con.execute(q).fetchall() for t, q in queries_by_table.items()}


# --- no extension is ever downloaded; a SQLite file is named as such (issue 14, item 9) ---

_PROJECT_DIRS = ("warehouse", "newswatch", "flows", "bench")
# Files that may call duckdb.connect themselves, each with its reason.
_RAW_DUCKDB_ALLOWED = {
    Path("warehouse/db.py"),  # the one place that opens project connections
    Path("bench/cli_startup.py"),  # its baseline is plain DuckDB in a child `python -c`
}


def test_every_project_connection_goes_through_open_duckdb() -> None:
    """``duckdb.connect``/``duckdb.sql`` (the module's default connection) bypass the
    no-auto-install config; only ``warehouse/db.py`` may call them."""
    root = Path(__file__).resolve().parent.parent
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in _PROJECT_DIRS
        for path in sorted((root / folder).rglob("*.py"))
        if path.relative_to(root) not in _RAW_DUCKDB_ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(call in line for call in ("duckdb.connect(", "duckdb.sql(", "duckdb.query("))
    ]
    assert offenders == []


@pytest.mark.parametrize("read_only", [False, True])
def test_connections_never_auto_install_or_auto_load(db: Path, read_only: bool) -> None:
    from newswatch.warehouse.db import open_duckdb

    with connect(db):
        pass
    for con in (connect(db, read_only=read_only), open_duckdb()):
        with con:
            settings = dict(
                con.execute(
                    "SELECT name, value FROM duckdb_settings() WHERE name IN "
                    "('autoinstall_known_extensions', 'autoload_known_extensions')"
                ).fetchall()
            )
            assert settings == {
                "autoinstall_known_extensions": "false",
                "autoload_known_extensions": "false",
            }
            with pytest.raises(duckdb.Error) as raised:  # would need the json extension
                con.execute("SELECT * FROM read_json_auto('x.json')").fetchall()
            assert "download" not in str(raised.value).lower()


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    import sqlite3

    path = tmp_path / "news.duckdb"  # the name does not help: the content is SQLite
    with sqlite3.connect(path) as lite:
        lite.execute("CREATE TABLE articles (id INTEGER)")
    return path


@pytest.mark.parametrize("read_only", [False, True])
def test_a_sqlite_file_is_refused_as_not_duckdb_and_left_alone(
    sqlite_file: Path, read_only: bool
) -> None:
    before = sqlite_file.read_bytes()
    with pytest.raises(WarehouseError) as raised:
        connect(sqlite_file, read_only=read_only, lock_timeout=0)
    assert str(raised.value).startswith(f"not a DuckDB database: {sqlite_file} is a SQLite")
    assert sqlite_file.read_bytes() == before
    assert sorted(p.name for p in sqlite_file.parent.iterdir()) == ["news.duckdb"]


def test_duckdb_itself_is_asked_for_no_extension_download(sqlite_file: Path) -> None:
    """Below the magic-bytes check: DuckDB opening the file reports a missing extension
    (auto-install off) instead of fetching sqlite_scanner from extensions.duckdb.org."""
    from newswatch.warehouse.db import _open_failure_message, open_duckdb

    with pytest.raises(duckdb.Error) as raised:
        open_duckdb(sqlite_file)
    assert "Failed to download" not in str(raised.value)
    assert "not found" in str(raised.value)
    assert _open_failure_message(sqlite_file, raised.value).startswith(
        f"not a DuckDB database: {sqlite_file}"
    )


def test_the_cli_names_a_sqlite_db_in_one_line_and_downloads_nothing(
    sqlite_file: Path, tmp_path: Path
) -> None:
    """A real ``newswatch sql --db file.sqlite`` with a fresh HOME (where DuckDB keeps
    downloaded extensions) and every proxy pointed at a closed port: one clear line, and no
    extension directory appears."""
    import os

    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    cli = str(Path(sys.executable).with_name("newswatch"))
    for live in ([], ["--live"]):
        done = subprocess.run(
            [cli, "sql", "SELECT 1", "--db", str(sqlite_file), *live],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]  # after "no snapshot …; reading …"
        assert last.startswith(f"newswatch: not a DuckDB database: {sqlite_file} is a SQLite")
        assert "Traceback" not in done.stderr and "Failed to download" not in done.stderr
    assert not (home / ".duckdb").exists()


def test_a_batch_staged_by_an_older_version_loads_with_its_new_columns_null(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    """A batch left staged across an upgrade lacks the columns added since (here the feed
    retirement and body fingerprint columns): it loads, with those columns null."""
    import pyarrow.parquet as pq

    path = stage_batch(batches[0], staging)
    dropped = {"feed_states": ("retired_at", "gone_since"), "articles": ("body_hash",)}
    for table, columns in dropped.items():
        file = path / f"{table}.parquet"
        old = pq.read_table(file)
        assert set(columns) <= set(old.column_names)
        pq.write_table(old.drop_columns(list(columns)), file)

    report = load_staged(db, staging)

    assert (report.batches_loaded, report.batches_rejected) == (1, 0), report.message
    assert "staged by an older version, added 3 empty column(s)" in report.message
    assert report.articles_added == len(batches[0].articles) > 0
    with connect(db, read_only=True) as con:
        assert con.execute(
            "SELECT count(*) FROM feed_state WHERE retired_at IS NOT NULL"
        ).fetchone() == (0,)


def test_interrupted_staging_temporaries_are_swept_by_the_next_load(
    db: Path, staging: Path, batches: list[IngestBatch]
) -> None:
    import os
    import time

    from newswatch.warehouse.writer_lock import writer_lock

    staging.mkdir(parents=True)
    old = staging / ".tmp-20260101T000000000000Z__run-a-1234abcd"
    fresh = staging / ".tmp-20260101T000000000000Z__run-b-5678abcd"
    for leftover in (old, fresh):
        leftover.mkdir()
        (leftover / "articles.parquet").write_bytes(b"half")
    an_hour_ago = time.time() - 7200
    os.utime(old, (an_hour_ago, an_hour_ago))
    stage_batch(batches[0], staging)

    first = load_staged(db, staging)  # no writer lock held: only the stale one goes
    assert not old.exists() and fresh.exists()
    assert "removed 1 interrupted staging temporaries" in first.message

    with writer_lock(staging.parent, "test"):  # nobody else can be staging: all go
        load_staged(db, staging)
    assert not fresh.exists()
    assert first.batches_loaded == 1
