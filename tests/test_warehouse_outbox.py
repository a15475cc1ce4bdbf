"""Alerts go into the outbox with the load, once per (rule, story, channel), and are marked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newswatch.core.records import AlertRecord, IngestBatch
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.outbox import DeliveryAttempt, due_alerts, record_attempts
from newswatch.warehouse.sample import sample_batches

NOW = datetime(2025, 4, 1, 7, 0, tzinfo=UTC)


def alert(story: str, channel: str = "ops") -> AlertRecord:
    return AlertRecord(
        alert_id=f"id-{story}-{channel}",
        rule="new-story",
        kind="new_story",
        story_id=story,
        channel=channel,
        delivery="immediate",
        created_at=NOW - timedelta(minutes=5),
        article_id=None,
        payload_json='{"headline": "x"}',
    )


def load_with_alerts(tmp_path: Path, *alerts: AlertRecord, run_id: str = "r1") -> Path:
    db = tmp_path / "nw.duckdb"
    base = sample_batches(days=7, per_day=1)[0]
    batch = IngestBatch(run=replace(base.run, run_id=run_id), alerts=alerts)
    stage_batch(batch, tmp_path / "staging")
    report = load_staged(db, tmp_path / "staging")
    assert report.batches_loaded == 1, report.message
    return db


def test_alerts_are_stored_once_per_rule_story_and_channel(tmp_path: Path) -> None:
    db = load_with_alerts(tmp_path, alert("s1"), alert("s1"), alert("s1", "mail"), alert("s2"))
    load_with_alerts(tmp_path, alert("s1"), alert("s2"), run_id="r2")
    due = due_alerts(db, NOW)
    assert sorted((a.story_id, a.channel) for a in due) == [
        ("s1", "mail"),
        ("s1", "ops"),
        ("s2", "ops"),
    ]
    assert all(a.idempotency_key == a.alert_id and a.attempts == 0 for a in due)


def test_attempts_mark_sent_retry_or_failed(tmp_path: Path) -> None:
    db = load_with_alerts(tmp_path, alert("sent"), alert("retry"), alert("gave-up"))
    later = NOW + timedelta(hours=1)
    updated = record_attempts(
        db,
        [
            DeliveryAttempt("id-sent-ops", ok=True),
            DeliveryAttempt("id-retry-ops", ok=False, error="HTTP 503", retry_at=later),
            DeliveryAttempt("id-gave-up-ops", ok=False, error="HTTP 410"),
        ],
        NOW,
    )
    again = record_attempts(db, [DeliveryAttempt("id-sent-ops", ok=True)], NOW)

    assert (updated, again) == (3, 0)
    assert due_alerts(db, NOW) == []
    [retry] = due_alerts(db, later)
    assert (retry.story_id, retry.attempts) == ("retry", 1)


def test_no_alerts_before_the_first_load(tmp_path: Path) -> None:
    assert due_alerts(tmp_path / "missing.duckdb", NOW) == []


def test_ignore_backoff_takes_every_pending_alert_but_never_a_sent_one(tmp_path: Path) -> None:
    db = load_with_alerts(tmp_path, alert("waiting"), alert("done"))
    far = NOW + timedelta(hours=6)
    record_attempts(
        db,
        [
            DeliveryAttempt("id-waiting-ops", ok=False, error="HTTP 503", retry_at=far),
            DeliveryAttempt("id-done-ops", ok=True),
        ],
        NOW,
    )
    assert due_alerts(db, NOW) == []
    [now] = due_alerts(db, NOW, ignore_backoff=True)
    assert (now.story_id, now.attempts) == ("waiting", 1)
