"""Alert delivery to real receivers on 127.0.0.1, and the alerts file's validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractors.alerts import load_alert_config
from extractors.delivery import Message, deliver, webhook_signature
from newswatch.errors import ConfigError
from newswatch.settings import DEFAULT_ALERTS
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
