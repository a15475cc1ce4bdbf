"""A real warehouse whose outbox holds N pending alerts, and an alerts file for them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from newswatch.core.records import AlertRecord, IngestBatch
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.sample import sample_batches

CREATED = datetime(2026, 7, 14, 6, 0, tzinfo=UTC)


def pending_alerts(
    count: int, channel: str = "log", delivery: str = "immediate"
) -> list[AlertRecord]:
    return [
        AlertRecord(
            alert_id=f"alert-{i:03d}",
            rule="new-story",
            kind="new_story",
            story_id=f"story-{i:03d}",
            channel=channel,
            delivery=delivery,
            created_at=CREATED + timedelta(seconds=i),
            article_id=None,
            payload_json=json.dumps({"alert_id": f"alert-{i:03d}", "headline": f"story {i}"}),
        )
        for i in range(count)
    ]


def warehouse_with_alerts(data_dir: Path, alerts: list[AlertRecord]) -> Path:
    """``data_dir/nw.duckdb`` loaded from one staged batch carrying ``alerts``."""
    db = data_dir / "nw.duckdb"
    base = sample_batches(days=7, per_day=1)[0]
    stage_batch(
        IngestBatch(run=replace(base.run, run_id="r-alerts"), alerts=tuple(alerts)),
        data_dir / "staging",
    )
    report = load_staged(db, data_dir / "staging")
    assert report.batches_loaded == 1, report.message
    return db


def alerts_file(path: Path, name: str = "log", target: str = 'url = "file://alerts.jsonl"') -> Path:
    """One channel ``name`` (``target``: its url / url_env line) and one rule using it."""
    path.write_text(
        f'[[channel]]\nname = "{name}"\n{target}\n\n'
        f'[[rule]]\nname = "new-story"\nkind = "new_story"\nchannels = ["{name}"]\n',
        encoding="utf-8",
    )
    return path


def outbox_state(db: Path) -> dict[str, tuple[str, int]]:
    """alert_id -> (status, attempts)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT alert_id, status, attempts FROM alerts").fetchall()
    return {alert_id: (status, attempts) for alert_id, status, attempts in rows}


def delivered(path: Path) -> list[str]:
    """Alert ids in the order the file channel received them (digests expanded)."""
    ids: list[str] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            ids += [p["alert_id"] for p in data.get("digest") or [data]]
    return ids
