"""Case 40: a damaged database file is reported with recovery steps and never deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.errors import WarehouseError
from warehouse.db import connect


@pytest.fixture
def damaged_db(tmp_path: Path) -> Path:
    db = tmp_path / "news.duckdb"
    with connect(db) as con:
        con.execute("CHECKPOINT")
    data = bytearray(db.read_bytes())
    data[:4096] = b"\xde\xad\xbe\xef" * 1024  # the file header is gone
    db.write_bytes(bytes(data))
    (tmp_path / "news.duckdb.wal").write_bytes(b"not a wal")
    return db


def test_a_damaged_file_is_refused_with_recovery_steps_and_kept(damaged_db: Path) -> None:
    before = damaged_db.read_bytes()
    with pytest.raises(WarehouseError) as raised:
        connect(damaged_db)
    message = str(raised.value)
    assert str(damaged_db) in message
    assert "restore the last snapshot" in message and "keep both files" in message
    assert damaged_db.read_bytes() == before
    assert damaged_db.with_name("news.duckdb.wal").read_bytes() == b"not a wal"


def test_the_cli_reports_it_in_one_line(
    damaged_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sql", "SELECT 1", "--live", "--db", str(damaged_db)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "cannot open" in err and "Traceback" not in err


def test_a_batch_loaded_by_an_overlapping_run_while_waiting_for_the_lock_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 42: run B lists the staged batches, waits for the lock, and run A loads (moves)
    one of them meanwhile; B must load the rest, not crash on the vanished directory."""
    import warehouse.load as load_module
    from warehouse.load import load_staged, stage_batch
    from warehouse.sample import sample_batches
    from warehouse.staging import LOADED_DIR, move_batch, staged_batches

    db, staging = tmp_path / "news.duckdb", tmp_path / "staging"
    first, second = sample_batches(days=4, per_day=2)[:2]
    stage_batch(first, staging)
    stage_batch(second, staging)
    real_connect = load_module.connect

    def other_run_loads_one_first(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        move_batch(staged_batches(staging)[0], LOADED_DIR)
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load_module, "connect", other_run_loads_one_first)
    report = load_staged(db, staging)
    assert report.batches_loaded == 1 and report.batches_rejected == 0
    assert report.batches_left == 0


def test_readers_of_a_file_without_schema_see_nothing_rather_than_fail(tmp_path: Path) -> None:
    """An analyst's ``duckdb news.duckdb`` before the first load leaves a file with no
    tables; the run's outbox and entity reads must treat it as empty (found by the lock
    test: ``send-alerts`` failed the flow with "Table with name alerts does not exist")."""
    from datetime import UTC, datetime

    import duckdb

    from warehouse.alert_queries import mentioned_entities
    from warehouse.outbox import due_alerts

    db = tmp_path / "news.duckdb"
    duckdb.connect(str(db)).close()
    assert due_alerts(db, datetime.now(UTC)) == []
    assert mentioned_entities(db) == set()
