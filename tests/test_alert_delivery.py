"""Alert delivery to real receivers on 127.0.0.1, and the alerts file's validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.core.errors import ConfigError
from newswatch.core.settings import DEFAULT_ALERTS
from newswatch.extractors.alerts import load_alert_config
from newswatch.extractors.delivery import Message, deliver, webhook_signature
from tests.alert_receivers import WebhookLog, smtp_receiver, webhook_receiver

LOCAL = ("127.0.0.1",)  # the receivers below listen there; the SSRF guard refuses it otherwise


@pytest.fixture(autouse=True)
def local_receivers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every receiver here is on 127.0.0.1; the refusal tests remove this again."""
    monkeypatch.setenv("NEWSWATCH_ALLOW_PRIVATE", "127.0.0.1")


MESSAGE = Message(
    idempotency_key="a1b2c3",
    title="New story: Alabuga output doubles",
    body="Caspian Ledger · 2026-07-14",
    data={"headline": "Alabuga output doubles", "link": "http://example.org/a"},
)


def test_webhook_follows_standard_webhooks_and_verifies() -> None:
    log = WebhookLog()
    with webhook_receiver(log) as url:
        result = deliver(url, MESSAGE, secret="s3cret", allow_private=LOCAL)
    assert result.ok
    headers, body = log.received[0]
    assert headers["webhook-id"] == "a1b2c3"
    expected = webhook_signature(
        "s3cret",
        "a1b2c3",
        int(headers["webhook-timestamp"]),
        json.dumps(body, ensure_ascii=False).encode(),
    )
    assert headers["webhook-signature"] == expected
    assert body["data"]["headline"] == "Alabuga output doubles"


def test_webhook_error_status_is_a_failure_not_a_send() -> None:
    log = WebhookLog(status=503)
    with webhook_receiver(log) as url:
        result = deliver(url, MESSAGE, allow_private=LOCAL)
    assert not result.ok and "503" in (result.error or "")
    assert url not in (result.error or "")


def test_unreachable_apprise_target_is_a_failure() -> None:
    result = deliver("json://127.0.0.1:9/hook", MESSAGE, allow_private=LOCAL)
    assert not result.ok


def test_email_reaches_a_local_smtp_server() -> None:
    with smtp_receiver() as (port, inbox):
        url = f"mailto://127.0.0.1:{port}?from=nw@example.org&to=analyst@example.org"
        result = deliver(url, MESSAGE, allow_private=LOCAL)
    assert result.ok, result.error
    assert len(inbox) == 1
    assert "Subject: New story: Alabuga output doubles" in inbox[0]
    assert "a1b2c3" in inbox[0]


def test_file_channel_appends_one_json_line_per_message(tmp_path: Path) -> None:
    target = tmp_path / "alerts.jsonl"
    assert deliver(f"file://{target}", MESSAGE).ok
    assert deliver(f"file://{target}", MESSAGE).ok
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a1b2c3", "a1b2c3"]


def test_bundled_alerts_file_is_valid() -> None:
    config = load_alert_config(DEFAULT_ALERTS)
    assert {rule.kind for rule in config.rules} >= {"new_story", "first_seen"}


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ('[[channel]]\nname = "x"\nurl = "slack://tok/en"\n', 3, "url"),
        (
            '[[channel]]\nname = "x"\nurl = "console://"\n\n[[rule]]\nname = "r"\n'
            'kind = "new_story"\nchannels = ["nope"]\n',
            8,
            "channels",
        ),
        (
            '[[channel]]\nname = "x"\nurl = "console://"\n\n[[rule]]\nname = "r"\n'
            'kind = "spiky"\nchannels = ["x"]\n',
            7,
            "kind",
        ),
    ],
)
def test_malformed_alerts_file_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str
) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_alert_config(path)
    assert f"{path}:{line}:" in str(error.value)
    assert f"'{field}'" in str(error.value)


# ------------------------------------------------ per-message marking, config is no attempt


def test_each_message_is_marked_sent_as_soon_as_it_is_accepted(tmp_path: Path) -> None:
    """The channel fails from the 4th message on: the first 3 are already marked sent, the
    rest pending with one attempt each (nothing waits for the end of the batch)."""
    from newswatch.flows.alerting import send_due_alerts
    from tests.outbox_fixtures import (
        alerts_file,
        outbox_state,
        pending_alerts,
        warehouse_with_alerts,
    )

    db = warehouse_with_alerts(tmp_path, pending_alerts(6, channel="hook"))
    log = WebhookLog()
    config_path = alerts_file(tmp_path / "alerts.toml", "hook", 'url_env = "NW_HOOK"')
    config = load_alert_config(config_path)
    seen: list[dict[str, object]] = []

    with webhook_receiver(log) as url:
        import newswatch.flows.alerting as alerting

        real = alerting.deliver

        def deliver_then_break(target: str, message: Message, **kw: object):  # type: ignore[no-untyped-def]
            seen.append(outbox_state(db))  # the outbox as it is when each message leaves
            if len(seen) == 4:
                log.status = 503
            return real(target, message, **kw)  # type: ignore[arg-type]

        alerting.deliver = deliver_then_break  # type: ignore[assignment]
        try:
            report = send_due_alerts(db, config, NOW_SEND, env={"NW_HOOK": url})
        finally:
            alerting.deliver = real  # type: ignore[assignment]

    assert (report.sent, report.failed, report.messages) == (3, 3, 6)
    # when message k leaves, messages 1..k-1 are already committed as sent
    for k, state in enumerate(seen):
        assert sum(status == "sent" for status, _ in state.values()) == min(k, 3)
    final = outbox_state(db)
    assert sorted(s for s, _ in final.values()) == ["pending"] * 3 + ["sent"] * 3
    assert all(attempts == 1 for _, attempts in final.values())
    assert [body["data"]["alert_id"] for _, body in log.received] == [
        "alert-000",
        "alert-001",
        "alert-002",
    ]


NOW_SEND = datetime(2026, 7, 14, 7, 0, tzinfo=UTC)


def run_cli(*argv: str) -> int:
    from newswatch.cli import main

    return main(list(argv))


@pytest.mark.parametrize("case", ["missing-file", "malformed-file", "unknown-channel", "env-unset"])
def test_a_wrong_alerts_config_is_never_a_delivery_attempt(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.outbox_fixtures import (
        alerts_file,
        outbox_state,
        pending_alerts,
        warehouse_with_alerts,
    )

    channel = "hook" if case == "env-unset" else "log"
    db = warehouse_with_alerts(tmp_path, pending_alerts(3, channel=channel))
    before = outbox_state(db)
    path = tmp_path / "alerts.toml"
    if case == "malformed-file":
        path.write_text('[[channel]]\nname = "log"\nurl = "slack://tok/en"\n')
    elif case == "unknown-channel":  # a valid file, but not the one these alerts came from
        alerts_file(path, "other", 'url = "file://other.jsonl"')
    elif case == "env-unset":
        alerts_file(path, "hook", 'url_env = "NW_HOOK_UNSET"')
    code = run_cli("alerts", "send", "--alerts", str(path), "--db", str(db), "--now")
    out = capsys.readouterr()

    assert outbox_state(db) == before  # attempts, status: unchanged
    assert code == 78
    text = out.out + out.err
    expected = {
        "missing-file": f"{path}: cannot read the alerts file",
        "malformed-file": f"{path}:3:",
        "unknown-channel": "channel 'log' is not in the alerts file",
        "env-unset": "$NW_HOOK_UNSET is not set",
    }[case]
    assert expected in text, text
    if case in {"unknown-channel", "env-unset"}:
        assert "3 left pending" in text and "not counted as attempts" in text


def test_send_now_retries_at_once_ignoring_backoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from newswatch.warehouse.outbox import DeliveryAttempt, record_attempts
    from tests.outbox_fixtures import (
        alerts_file,
        delivered,
        outbox_state,
        pending_alerts,
        warehouse_with_alerts,
    )

    db = warehouse_with_alerts(tmp_path, pending_alerts(2))
    far = datetime.now(UTC) + timedelta(hours=6)  # backing off for hours after a failure
    record_attempts(
        db, [DeliveryAttempt(f"alert-00{i}", False, "HTTP 503", far) for i in (0, 1)], NOW_SEND
    )
    config = str(alerts_file(tmp_path / "alerts.toml"))

    assert run_cli("alerts", "send", "--alerts", config, "--db", str(db)) == 0
    assert "0 message(s)" in capsys.readouterr().out  # not due yet: nothing sent
    assert delivered(tmp_path / "alerts.jsonl") == []

    assert run_cli("alerts", "send", "--alerts", config, "--db", str(db), "--now") == 0
    assert "2 alert(s) sent" in capsys.readouterr().out
    assert delivered(tmp_path / "alerts.jsonl") == ["alert-000", "alert-001"]
    assert outbox_state(db) == {"alert-000": ("sent", 2), "alert-001": ("sent", 2)}

    assert run_cli("alerts", "send", "--alerts", config, "--db", str(db), "--now") == 0
    assert len(delivered(tmp_path / "alerts.jsonl")) == 2  # sent ones are never re-sent


def test_a_webhook_to_a_private_address_is_refused_with_the_option_that_allows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEWSWATCH_ALLOW_PRIVATE")
    log = WebhookLog()
    with webhook_receiver(log) as url:
        result = deliver(url, MESSAGE)
    assert not result.ok
    assert result.error == (
        "refused by SSRF guard: 127.0.0.1 is a loopback address (allow it with "
        "--allow-private 127.0.0.1 or NEWSWATCH_ALLOW_PRIVATE=127.0.0.1)"
    )
    assert log.received == []  # nothing was sent


def test_the_environment_variable_allows_a_private_webhook() -> None:
    log = WebhookLog()  # NEWSWATCH_ALLOW_PRIVATE=127.0.0.1 (the autouse fixture)
    with webhook_receiver(log) as url:
        assert deliver(url, MESSAGE).ok
    assert len(log.received) == 1


def test_an_apprise_url_to_a_private_host_is_refused_before_apprise_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEWSWATCH_ALLOW_PRIVATE")
    with smtp_receiver() as (port, inbox):
        url = f"mailto://127.0.0.1:{port}?from=nw@example.org&to=analyst@example.org"
        result = deliver(url, MESSAGE)
    assert not result.ok
    assert "refused by SSRF guard: 127.0.0.1 is a loopback address" in (result.error or "")
    assert "--allow-private 127.0.0.1" in (result.error or "")
    assert inbox == []


def test_a_webhook_redirect_is_not_followed() -> None:
    log = WebhookLog(status=307)
    with webhook_receiver(log) as url:
        result = deliver(url, MESSAGE, allow_private=LOCAL)
    assert not result.ok
    assert result.error == "receiver answered HTTP 307 (redirects are not followed)"
