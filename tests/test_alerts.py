"""Alerts delivered once, never lost: a real Prefect flow run with a webhook receiver, an
outage of three runs, a kill between send and mark, a digest by e-mail (aiosmtpd)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.core.records import AlertRecord, IngestBatch, RunRecord
from newswatch.extractors.alerts import load_alert_config
from newswatch.flows.alerting import retry_delay, send_due_alerts
from newswatch.sample import serve_sample, write_sample_sources
from newswatch.warehouse.load import load_staged, stage_batch
from tests.alert_receivers import WebhookLog, smtp_receiver, webhook_receiver

HOOK_RULES = """
[[channel]]
name = "hook"
url_env = "NW_TEST_HOOK_URL"
secret_env = "NW_TEST_HOOK_SECRET"

[[rule]]
name = "new-story"
kind = "new_story"
channels = ["hook"]
"""


@pytest.fixture(autouse=True)
def local_receivers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers listen on 127.0.0.1, which the SSRF guard refuses unless allowed."""
    monkeypatch.setenv("NEWSWATCH_ALLOW_PRIVATE", "127.0.0.1")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_flow_sends_one_message_per_new_story_and_none_on_rerun(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.flows.ingest import ingest

    rules = write(tmp_path / "alerts.toml", HOOK_RULES)
    db = tmp_path / "news.duckdb"
    log = WebhookLog()
    with serve_sample(port=0) as base, webhook_receiver(log) as hook:
        monkeypatch.setenv("NW_TEST_HOOK_URL", hook)
        monkeypatch.setenv("NW_TEST_HOOK_SECRET", "whsec_c2VjcmV0")
        sources = write_sample_sources(base, tmp_path / "sources.toml")
        args = {"sources": str(sources), "db": str(db), "allow_private": ["127.0.0.1"]}
        first = ingest(alerts=str(rules), **args)
        received_first = len(log.received)
        second = ingest(alerts=str(rules), **args)

    with duckdb.connect(str(db), read_only=True) as con:
        stories = con.execute(
            "select count(distinct story_id) from articles where on_topic"
        ).fetchone()[0]
        syndicated = con.execute(
            "select story_id from articles where on_topic group by story_id having count(*) > 1"
        ).fetchall()
    assert syndicated, "the sample's syndicated copy should share its original's story"
    assert received_first == stories == first.alerts_sent
    assert second.alerts_raised == 0 and len(log.received) == received_first
    ids = [headers["webhook-id"] for headers, _ in log.received]
    assert len(set(ids)) == len(ids)
    headers, body = log.received[0]
    data = body["data"]
    assert {"headline", "outlet", "published", "entities", "snippet", "link"} <= set(data)
    assert data["link"].startswith(base) and data["entities"]
    # the quote under the headline is never the headline again (the sample's texts open
    # with their titles, so the top mention's sentence often is the title)
    assert all(b["data"]["snippet"] != b["data"]["headline"] for _, b in log.received)
    assert headers["webhook-signature"].startswith("v1,")


def outbox_with_alerts(tmp_path: Path, n: int, delivery: str = "immediate") -> Path:
    db = tmp_path / "news.duckdb"
    now = datetime.now(UTC)
    alerts = tuple(
        AlertRecord(
            alert_id=f"alert-{i}",
            rule="new-story",
            kind="new_story",
            story_id=f"story-{i}",
            channel="hook",
            delivery=delivery,
            created_at=now,
            payload_json=json.dumps(
                {
                    "headline": f"Story {i}",
                    "story_id": f"story-{i}",
                    "outlet": "Test",
                    "entities": ["Shahed-136"],
                    "link": f"http://example.org/{i}",
                }
            ),
        )
        for i in range(n)
    )
    batch = IngestBatch(run=RunRecord(run_id="r1", started_at=now), alerts=alerts)
    stage_batch(batch, tmp_path / "staging")
    report = load_staged(db, tmp_path / "staging")
    assert report.batches_loaded == 1
    return db


def test_receiver_down_for_three_runs_then_up_delivers_each_alert_exactly_once(
    tmp_path: Path,
) -> None:
    db = outbox_with_alerts(tmp_path, 3)
    config = load_alert_config(write(tmp_path / "alerts.toml", HOOK_RULES))
    log = WebhookLog(status=503)
    now = datetime.now(UTC)
    with webhook_receiver(log) as hook:
        env = {"NW_TEST_HOOK_URL": hook}
        for attempt in range(3):  # three runs while the receiver is down
            report = send_due_alerts(db, config, now, env=env)
            assert (report.sent, report.failed) == (0, 3)
            assert send_due_alerts(db, config, now, env=env).failed == 0  # backing off
            now += retry_delay(attempt) + timedelta(seconds=1)
        log.status = 200
        assert send_due_alerts(db, config, now, env=env).sent == 3
        assert send_due_alerts(db, config, now + timedelta(days=1), env=env).sent == 0
    assert Counter(h["webhook-id"] for h, _ in log.received) == {
        "alert-0": 1,
        "alert-1": 1,
        "alert-2": 1,
    }
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select status, attempts from alerts order by alert_id").fetchall()
    assert rows == [("sent", 4)] * 3


KILL_AFTER_SEND = """
import os, sys
from datetime import UTC, datetime
from pathlib import Path
import newswatch.warehouse.outbox
import newswatch.flows.alerting
from newswatch.extractors.alerts import load_alert_config

def die(*args, **kwargs):
    os._exit(9)  # like kill -9: the receiver has the message, the outbox was not updated

newswatch.flows.alerting.record_attempts = die
config = load_alert_config(Path(sys.argv[2]))
newswatch.flows.alerting.send_due_alerts(Path(sys.argv[1]), config, datetime.now(UTC),
                               env={"NW_TEST_HOOK_URL": sys.argv[3]})
"""


def test_kill_between_send_and_mark_repeats_at_most_once_with_the_same_key(
    tmp_path: Path,
) -> None:
    db = outbox_with_alerts(tmp_path, 2)
    rules = write(tmp_path / "alerts.toml", HOOK_RULES)
    log = WebhookLog()
    with webhook_receiver(log) as hook:
        killed = subprocess.run(
            [sys.executable, "-c", KILL_AFTER_SEND, str(db), str(rules), hook],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert killed.returncode == 9, killed.stderr
        # each message is recorded as soon as its channel accepts it: the kill comes at the
        # first record, so only the message in flight reached the receiver
        assert len(log.received) == 1
        config = load_alert_config(rules)
        report = send_due_alerts(db, config, datetime.now(UTC), env={"NW_TEST_HOOK_URL": hook})
        assert report.sent == 2
        assert (
            send_due_alerts(db, config, datetime.now(UTC), env={"NW_TEST_HOOK_URL": hook}).sent == 0
        )
    receipts = Counter(h["webhook-id"] for h, _ in log.received)
    # only the alert in flight at the kill is repeated, with the same idempotency key
    assert sorted(receipts.values()) == [1, 2]


def test_digest_rule_sends_one_email_listing_every_story(tmp_path: Path) -> None:
    db = outbox_with_alerts(tmp_path, 3, delivery="digest")
    rules = write(
        tmp_path / "alerts.toml",
        """
        [[channel]]
        name = "hook"
        url_env = "NW_TEST_MAIL_URL"

        [[rule]]
        name = "new-story"
        kind = "new_story"
        channels = ["hook"]
        delivery = "digest"
        """,
    )
    with smtp_receiver() as (port, inbox):
        env = {
            "NW_TEST_MAIL_URL": f"mailto://127.0.0.1:{port}?from=nw@example.org&to=a@example.org"
        }
        report = send_due_alerts(db, load_alert_config(rules), datetime.now(UTC), env=env)
    assert (report.messages, report.sent) == (1, 3)
    assert len(inbox) == 1
    assert all(f"Story {i}" in inbox[0] for i in range(3))
    assert "3 new stories" in inbox[0]


def test_unset_channel_variable_keeps_alerts_pending(tmp_path: Path) -> None:
    db = outbox_with_alerts(tmp_path, 1)
    config = load_alert_config(write(tmp_path / "alerts.toml", HOOK_RULES))
    report = send_due_alerts(db, config, datetime.now(UTC), env={})
    # a configuration problem is not a delivery attempt: pending, attempts unchanged
    assert (report.failed, report.misconfigured) == (0, 1)
    assert "NW_TEST_HOOK_URL" in report.errors[0]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select status, attempts from alerts").fetchone() == ("pending", 0)


def test_the_alert_snippet_is_not_the_headline_again() -> None:
    from newswatch.core.records import ArticleRecord, MentionRecord
    from newswatch.extractors.alerts import Rule, story_payload

    title = "Caspian cargo lanes draw fresh scrutiny"
    text = f"Security\n{title}\nAnalysts tracking vessels between Amirabad and Russia's ports."
    article = ArticleRecord(
        "a1", "caspian", "Caspian Ledger", "http://x/1", "http://x/1", title, text, "",
        None, None, None, datetime.now(UTC), "en", "ok", None, None, "s1", 1.0, True,
    )  # fmt: skip
    in_title = MentionRecord("a1", "caspian-sea", 6, 9, title, "Caspian")
    in_body = MentionRecord("a1", "russia", 2, 80, "Analysts tracking vessels between", "Russia")
    from newswatch.core.settings import DEFAULT_ALERTS

    rule = next(r for r in load_alert_config(DEFAULT_ALERTS).rules if r.kind == "new_story")
    assert isinstance(rule, Rule)
    payload = story_payload(rule, article, [in_title, in_body], {})
    assert payload["snippet"] == "Analysts tracking vessels between"
    # no other sentence: the text without its title line, never the headline
    payload = story_payload(rule, article, [in_title], {})
    assert (
        payload["snippet"]
        == "Security Analysts tracking vessels between Amirabad and Russia's ports."
    )
