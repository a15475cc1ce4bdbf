"""Case 40: a damaged database file is reported with recovery steps and never deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.errors import WarehouseError
from newswatch.warehouse.db import connect


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
    import newswatch.warehouse.load as load_module
    from newswatch.warehouse.load import load_staged, stage_batch
    from newswatch.warehouse.sample import sample_batches
    from newswatch.warehouse.staging import LOADED_DIR, move_batch, staged_batches

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

    from newswatch.warehouse.alert_queries import mentioned_entities
    from newswatch.warehouse.outbox import due_alerts

    db = tmp_path / "news.duckdb"
    duckdb.connect(str(db)).close()
    assert due_alerts(db, datetime.now(UTC)) == []
    assert mentioned_entities(db) == set()


# --- a disk that fills mid-load (issue 14, item 9) ---


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 96 MiB tmpfs (room for the load's free-space pre-check, which wants 64 MiB
    plus 4x the staged bytes); skipped where mounting is not permitted."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system, as another process would."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 16))
                handle.flush()
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC
    return filler


def test_a_disk_that_fills_mid_load_says_no_space_and_keeps_the_batches_staged(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-check passes, then the disk fills while the load runs: the report names the
    OS error and the file, every batch stays staged, the database opens and holds nothing
    half-loaded, and once space is back the next load gives the same rows as a clean one.
    (Before: "TransactionContext Error: cannot rollback - no transaction is active".)"""
    import newswatch.warehouse.load as load_module
    from newswatch.warehouse.load import load_staged, stage_batch
    from newswatch.warehouse.sample import sample_batches
    from newswatch.warehouse.staging import staged_batches

    db, staging = small_disk / "news.duckdb", small_disk / "staging"
    with connect(db) as con:
        con.execute("CHECKPOINT")
    batches = sample_batches(days=60, per_day=20)
    for batch in batches:
        stage_batch(batch, staging)
    staged = len(staged_batches(staging))
    real_connect = load_module.connect
    filler: list[Path] = []

    def connect_then_fill(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        con = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        filler.append(fill(small_disk))
        return con

    monkeypatch.setattr(load_module, "connect", connect_then_fill)
    report = load_staged(db, staging)

    assert filler, "the disk was never filled"
    assert report.batches_loaded == 0 and report.batches_rejected == 0
    assert report.batches_left == staged == len(staged_batches(staging))
    assert "(kept staged): no space left on device: cannot write " in report.message
    assert f"{db}.wal (OS error: No space left on device)" in report.message
    assert "cannot rollback" not in report.message

    filler[0].unlink()
    monkeypatch.setattr(load_module, "connect", real_connect)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    again = load_staged(db, staging)
    assert again.batches_loaded == staged and again.batches_left == 0
    with connect(db, read_only=True) as con:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()
    assert articles == (sum(len(b.articles) for b in batches),)
