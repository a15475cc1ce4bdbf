"""Exit codes and messages that mean what the docs say (issue 20, item 5): a bad
``entities derive`` directory is a configuration error, not an empty table; ``alerts test``
does not fail because an optional channel's variable is unset; ``status`` counts "failing"
from the same verdict its health column shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.records import FeedPoll, FeedState, IngestBatch, RunRecord, Source
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.sample import build_sample_db


def test_entities_derive_of_a_missing_or_empty_directory_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["entities", "derive", str(tmp_path / "nonexistent")]) == 78
    captured = capsys.readouterr()
    assert captured.out == "" and "no such directory" in captured.err
    assert main(["entities", "derive", str(tmp_path)]) == 78
    assert "no *.txt seed texts" in capsys.readouterr().err
    (tmp_path / "one.txt").write_text("The Alabuga plant builds Geran-2 drones.", "utf-8")
    assert main(["entities", "derive", str(tmp_path), "--format", "json"]) == 0
    assert capsys.readouterr().out.strip()


ALERTS = """
[[channel]]
name = "log"
url = "file://alerts-test.jsonl"

[[channel]]
name = "team-webhook"
url_env = "NEWSWATCH_TEST_UNSET_WEBHOOK"

[[rule]]
name = "both"
kind = "new_story"
channels = ["log", "team-webhook"]

[[rule]]
name = "optional-only"
kind = "new_story"
channels = ["team-webhook"]
"""


def test_alerts_test_skips_an_unset_optional_channel_without_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NEWSWATCH_TEST_UNSET_WEBHOOK", raising=False)
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(ALERTS, "utf-8")
    db = ["--db", str(tmp_path / "newswatch.duckdb"), "--alerts", str(alerts)]
    assert main(["alerts", "test", "both", *db]) == 0
    out = capsys.readouterr().out
    assert "log: sent" in out and "team-webhook: skipped" in out
    sent = (tmp_path / "alerts-test.jsonl").read_text("utf-8").splitlines()
    assert len(sent) == 1 and json.loads(sent[0])  # the file channel really got it
    # nothing could be tried: a configuration problem, said in one line
    assert main(["alerts", "test", "optional-only", *db]) == 78
    assert "no channel of rule 'optional-only' is configured" in capsys.readouterr().err


def test_status_says_failing_only_for_feeds_its_health_column_calls_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "status.duckdb"
    build_sample_db(db)
    now = datetime.now(UTC).replace(microsecond=0)
    state = FeedState(
        "flaky-wire", last_status="error", consecutive_failures=1, last_polled_at=now,
        last_error="connection refused", next_poll_at=now + timedelta(minutes=30),
    )  # fmt: skip
    batch = IngestBatch(
        run=RunRecord("ops-1", now, now + timedelta(seconds=2), feeds_polled=1),
        feed_polls=(FeedPoll("flaky-wire", "http://x/flaky", "error", now),),
        feed_states=(state,),
        sources=(Source("flaky-wire", "Flaky Wire", "http://x/flaky"),),
    )
    stage_batch(batch, tmp_path / "staging")
    assert load_staged(db, tmp_path / "staging").batches_left == 0
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "flaky-wire" in line)
    assert "failed 1/3" in row and "unknown" not in row
    assert "(0 failing, 1 with a failed last poll," in out
