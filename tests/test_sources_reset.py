"""``newswatch sources reset`` on a real DuckDB file, and ``force`` in ``due_sources``.

The end-to-end path (a feed backed off by a real failed run, reset, then polled and loaded
by the next run) is in tests/test_run_states.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.core.errors import WarehouseLocked
from newswatch.core.records import FeedState, Source
from newswatch.extractors.feed_state import due_sources
from newswatch.warehouse.db import connect
from newswatch.warehouse.feed_admin import reset_feed_state

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


def warehouse_with_feeds(db: Path) -> None:
    """A migrated warehouse: three feeds with state (backing off, on cadence, retired when
    the schema has retirement) and one catalogued source never polled."""
    with connect(db) as con:
        con.execute(
            "INSERT INTO sources (source_id, name, url) VALUES "
            "('down', 'Down', 'http://a/feed'), ('healthy', 'Healthy', 'http://b/feed'), "
            "('fresh', 'Fresh', 'http://c/feed'), ('gone', 'Gone', 'http://d/feed')"
        )
        con.execute(
            "INSERT INTO feed_state (source_id, etag, last_status, last_error, "
            "consecutive_failures, last_polled_at, next_poll_at) VALUES "
            "('down', '\"v1\"', 'error', 'connection failed', 3, ?, ?), "
            "('healthy', NULL, 'ok', NULL, 0, ?, ?), "
            "('gone', NULL, 'error', 'HTTP 410', 1, ?, ?)",
            [NOW, LATER, NOW, LATER, NOW, LATER],
        )
        if has_column(con, "retired_at"):
            con.execute("UPDATE feed_state SET retired_at = ? WHERE source_id = 'gone'", [NOW])


def has_column(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'feed_state' AND column_name = ?",
        [column],
    ).fetchone()
    return bool(row and row[0])


def stored(db: Path) -> dict[str, tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        retired = "retired_at" if has_column(con, "retired_at") else "NULL"
        rows = con.execute(
            "SELECT source_id, consecutive_failures, next_poll_at, etag, last_error, "
            f"{retired} FROM feed_state"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_force_makes_backed_off_and_waiting_feeds_due() -> None:
    sources = [Source(id=i, name=i, url=f"http://{i}/feed") for i in ("down", "healthy", "new")]
    states = {
        "down": FeedState("down", last_status="error", consecutive_failures=2, next_poll_at=LATER),
        "healthy": FeedState("healthy", last_status="ok", next_poll_at=LATER),
    }
    assert [s.id for s in due_sources(sources, states, NOW, respect_cadence=True)] == ["new"]
    forced = due_sources(sources, states, NOW, respect_cadence=True, force=True)
    assert sorted(s.id for s in forced) == ["down", "healthy", "new"]
    disabled = [Source(id="off", name="off", url="http://off/feed", enabled=False)]
    assert due_sources(disabled, {}, NOW, force=True) == []


def test_reset_one_feed_clears_its_backoff_and_keeps_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    warehouse_with_feeds(db)
    before = stored(db)

    assert main(["sources", "reset", "down", "--db", str(db)]) == 0

    out = capsys.readouterr().out
    assert "reset 1 feed(s)" in out
    assert "down  was backing off after 3 failure(s) until 2026-03-01 14:00 UTC" in out
    assert "(last error: connection failed)" in out
    after = stored(db)
    assert after["down"][:2] == (0, None)  # no failures, no next-poll time: due at once
    assert after["down"][2:4] == ('"v1"', "connection failed")  # validators and history kept
    assert after["healthy"] == before["healthy"]  # only the named feed changed
    assert after["gone"] == before["gone"]


def test_reset_all_clears_every_feed_including_a_retired_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    warehouse_with_feeds(db)

    assert main(["sources", "reset", "--all", "--db", str(db)]) == 0

    out = capsys.readouterr().out
    assert "reset 3 feed(s)" in out
    assert "healthy  was on its cadence until 2026-03-01 14:00 UTC" in out
    assert all(state[:2] == (0, None) for state in stored(db).values())
    assert all(state[4] is None for state in stored(db).values())  # retirement cleared


def test_reset_names_a_catalogued_feed_that_was_never_polled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    warehouse_with_feeds(db)
    assert main(["sources", "reset", "fresh", "down", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "fresh  never polled: nothing stored, polled on the next run" in out
    assert stored(db)["down"][:2] == (0, None)


def test_unknown_id_is_an_error_naming_known_ids_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    warehouse_with_feeds(db)
    before = stored(db)

    assert main(["sources", "reset", "down", "dwon", "--db", str(db)]) == 1

    err = capsys.readouterr().err
    assert "unknown source id(s): dwon" in err
    assert "known in" in err and "down, fresh, gone, healthy" in err
    assert "nothing was reset" in err
    assert stored(db) == before  # the valid id in the same call was not reset either


def test_missing_warehouse_is_a_clear_message_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nothing-here.duckdb"
    assert main(["sources", "reset", "--all", "--db", str(db)]) == 0
    assert f"no database at {db}: nothing to reset" in capsys.readouterr().out
    assert not db.exists()


def test_empty_warehouse_has_nothing_to_reset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()  # a file with no tables at all
    assert main(["sources", "reset", "--all", "--db", str(db)]) == 0
    assert "nothing to reset" in capsys.readouterr().out
    assert main(["sources", "reset", "some-feed", "--db", str(db)]) == 1
    assert "known in" in capsys.readouterr().err


def test_reset_needs_ids_or_all_but_not_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "news.duckdb"
    assert main(["sources", "reset", "--db", str(db)]) == 1
    assert main(["sources", "reset", "a", "--all", "--db", str(db)]) == 1
    assert "give one or more source ids, or --all" in capsys.readouterr().err


def test_reset_uses_the_writer_connection_and_reports_a_held_lock(tmp_path: Path) -> None:
    db = tmp_path / "news.duckdb"
    warehouse_with_feeds(db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseLocked, match=f"PID {holder.pid}"):
            reset_feed_state(db, ["down"], lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert stored(db)["down"][0] == 3  # nothing changed
