"""Temp files of an interrupted snapshot publish are removed by the next publish; a live
publisher's are kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

from newswatch.core.settings import default_snapshot_path
from newswatch.warehouse.snapshot import publish_snapshot
from newswatch.warehouse.writer_lock import writer_lock
from tests.outbox_fixtures import pending_alerts, warehouse_with_alerts


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_leftovers_of_dead_publishers_go_live_ones_stay(tmp_path: Path) -> None:
    db = warehouse_with_alerts(tmp_path, pending_alerts(1))
    snap = default_snapshot_path(db)
    live = subprocess.Popen(["sleep", "600"])
    try:
        dead = tmp_path / f".{snap.name}.{dead_pid()}-0badc0de.tmp"
        names = {
            "dead": dead,
            "dead-wal": dead.with_name(dead.name + ".wal"),
            "legacy": tmp_path / f".{snap.name}.1a2b3c4d.tmp",  # before pids were in names
            "live": tmp_path / f".{snap.name}.{live.pid}-12345678.tmp",
            "unrelated": tmp_path / "notes.tmp",
        }
        for path in names.values():
            path.write_bytes(b"partial copy")

        report = publish_snapshot(db)

        assert set(report.leftovers_removed) == {
            names["dead"],
            names["dead-wal"],
            names["legacy"],
        }
        assert names["live"].exists() and names["unrelated"].exists()
        assert snap.exists()
        # holding the writer lock means no other publisher can be running: all are stale
        with writer_lock(tmp_path, "test"):
            assert publish_snapshot(db).leftovers_removed == (names["live"],)
        assert [p.name for p in tmp_path.glob(f".{snap.name}*")] == []
    finally:
        live.kill()
        live.wait()
