"""``newswatch status``: runs, feeds with next poll and cadence, pending alerts, staged batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.records import (
    AlertRecord,
    FeedPoll,
    FeedState,
    IngestBatch,
    RunRecord,
    Source,
)
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.sample import SAMPLE_SOURCES, build_sample_db
from newswatch.warehouse.status_queries import read_status, staged_not_loaded

NOW = datetime.now(UTC).replace(microsecond=0)


def ops_batch(run_id: str, started: datetime) -> IngestBatch:
    healthy, failing = SAMPLE_SOURCES[0].id, "broken-wire"
    states = (
        FeedState(
            healthy, last_status="ok", last_http_status=200, last_polled_at=started,
            last_success_at=started, next_poll_at=started + timedelta(minutes=20),
        ),
        FeedState(
            failing, last_status="error", last_http_status=429, consecutive_failures=3,
            last_error="HTTP 429 Too Many Requests: rate limited", last_polled_at=started,
            next_poll_at=started + timedelta(hours=2),
        ),
    )  # fmt: skip
    polls = tuple(
        FeedPoll(s.source_id, f"http://x/{s.source_id}", s.last_status or "ok", started)
        for s in states
    )
    alert = AlertRecord(
        "a1", "new-story", "new_story", "story-1", "log", "immediate", started, payload_json="{}"
    )
    return IngestBatch(
        run=RunRecord(run_id, started, started + timedelta(seconds=4), feeds_polled=2),
        feed_polls=polls,
        feed_states=states,
        sources=(Source(failing, "Broken Wire", "http://x/broken"),),
        alerts=(alert,),
    )


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "status.duckdb"
    build_sample_db(path)
    stage_batch(ops_batch("ops-1", NOW - timedelta(minutes=5)), tmp_path / "staging")
    assert load_staged(path, tmp_path / "staging").batches_left == 0
    stage_batch(ops_batch("ops-2", NOW), tmp_path / "staging")  # staged, not loaded
    return path


def test_status_reads_runs_feeds_cadence_alerts_and_staged_batches(db: Path) -> None:
    status = read_status(db, NOW)
    assert status.runs[0].run_id == "ops-1"  # newest first
    feeds = {f.source_id: f for f in status.feeds}
    assert status.feeds[0].source_id == "broken-wire"  # failing feeds lead
    broken = feeds["broken-wire"]
    assert broken.consecutive_failures == 3 and "429" in (broken.last_error or "")
    assert broken.poll_every_s is None  # backoff, not a cadence
    healthy = feeds[SAMPLE_SOURCES[0].id]
    assert healthy.poll_every_s == 20 * 60
    assert healthy.publishes_every_s and healthy.publishes_every_s > 0
    assert healthy.polls_24h == 1
    assert [a.alert_id for a in status.pending_alerts] == ["a1"]
    [staged] = staged_not_loaded(db.parent / "staging")
    assert staged.run_id == "ops-2" and staged.problem is None


def test_status_command_prints_every_section(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    for text in ("Last runs", "Feeds", "Pending alerts", "Staged batches not loaded"):
        assert text in out
    assert "broken-wire" in out and "rate limited" in out
    assert "20.0m" in out  # the healthy feed's cadence
    assert "1 failing" in out and "1 pending alerts" in out and "1 staged batches" in out


def test_status_on_a_missing_database_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--db", str(tmp_path / "none.duckdb")]) == 0
    assert "no database yet" in capsys.readouterr().out


def test_status_health_column_flags_a_feed_failing_three_polls_in_a_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from newswatch.commands.status import feed_health
    from newswatch.warehouse.status_queries import FeedRow

    now = datetime(2026, 11, 23, tzinfo=UTC)

    def row(source_id: str, failures: int) -> FeedRow:
        return FeedRow(
            source_id=source_id, name=None, enabled=True, last_status="error" if failures else "ok",
            last_http_status=503 if failures else 200, last_error="HTTP 503" if failures else None,
            consecutive_failures=failures, last_polled_at=now, last_success_at=None,
            next_poll_at=now, poll_every_s=None, publishes_every_s=None, polls_24h=3, articles=0,
        )  # fmt: skip

    verdicts = feed_health([row("down", 3), row("fine", 0)], tmp_path / "none.duckdb", now)
    assert verdicts["down"].status == "failing"
    assert "HTTP 503" in verdicts["down"].detail
    assert verdicts["fine"].status == "unknown"  # no history yet: no verdict invented
