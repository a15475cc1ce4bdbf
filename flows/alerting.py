"""Deliver due alerts from the outbox: read (short read-only open), then for each message
send it with no database open and record its outcome at once (one short write per
message). Shared by the flow's alerts task and ``newswatch alerts send``; no Prefect here.

Delivery guarantee: at least once per (rule, story, channel). Each message's alerts are
marked sent in their own transaction as soon as the channel accepts it, so a process killed
mid-batch repeats at most the one message that was in flight (accepted, not yet marked);
the repeat carries the same idempotency key (Standard Webhooks ``webhook-id``), so the
receiver can drop it. A digest is one message: its alerts are marked together.

A configuration problem (the alert's channel is not in the alerts file, or its URL's
environment variable is unset) is not a delivery attempt: those alerts stay pending with
their attempt count and backoff unchanged, and the problem is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from newswatch.core.errors import WarehouseLocked
from newswatch.extractors.alerts import AlertConfig, render_alert, render_digest
from newswatch.extractors.delivery import Message, deliver
from newswatch.warehouse.outbox import DeliveryAttempt, OutboxAlert, due_alerts, record_attempts

RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=6)


@dataclass(frozen=True)
class SendReport:
    sent: int = 0
    failed: int = 0  # delivery attempts that failed (each retried later, with backoff)
    messages: int = 0
    errors: tuple[str, ...] = field(default=())
    misconfigured: int = 0  # left pending, no attempt: channel not configured / URL unset
    not_tried: int = 0  # left pending, no attempt: sending stopped (could not record)


def retry_delay(attempts: int) -> timedelta:
    """Exponential, capped: 1, 2, 4 … minutes up to 6 hours; never gives up."""
    return min(RETRY_BASE * (2 ** min(attempts, 20)), RETRY_MAX)


def send_due_alerts(
    db_path: Path,
    config: AlertConfig,
    now: datetime,
    env: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    *,
    ignore_backoff: bool = False,
    allow_private: Sequence[str] | None = None,  # SSRF guard allow-list (None: the env's)
    lock_timeout: float = 30.0,  # seconds to wait for a held warehouse (Settings.db_lock_wait)
) -> SendReport:
    """Deliver every due alert (every pending one with ``ignore_backoff``), recording each
    message's outcome right after it; relative ``file://`` paths are under ``data_dir``."""
    env = os.environ if env is None else env
    data_dir = data_dir or Path(db_path).parent
    try:
        due = due_alerts(db_path, now, ignore_backoff=ignore_backoff, lock_timeout=lock_timeout)
    except WarehouseLocked as exc:  # alerts stay pending in the outbox for the next run
        return SendReport(errors=(f"alerts not sent this run: {exc}",))
    sent = failed = messages = misconfigured = not_tried = 0
    errors: list[str] = []
    groups = _messages(due)
    for index, group in enumerate(groups):
        channel = next((c for c in config.channels if c.name == group[0].channel), None)
        url = channel.resolve(env) if channel else None
        if channel is None or url is None:
            why = (
                f"channel {group[0].channel!r} is not in the alerts file"
                if channel is None
                else f"channel {channel.name!r}: ${channel.url_env} is not set"
            )
            errors.append(f"{why}; its alerts stay pending (not counted as attempts)")
            misconfigured += len(group)
            continue
        secret = env.get(channel.secret_env) if channel.secret_env else None
        result = deliver(
            anchored(url, data_dir), _message(group), secret=secret, allow_private=allow_private
        )
        messages += 1
        if result.ok:
            attempts = [DeliveryAttempt(a.alert_id, True) for a in group]
            sent += len(group)
        else:
            why = f"channel {channel.name!r}: {result.error}"
            attempts = [_failed(a, why, now) for a in group]
            failed += len(group)
            errors.append(why)
        try:
            record_attempts(
                db_path, attempts, now, lock_timeout=lock_timeout
            )  # before the next send
        except WarehouseLocked as exc:
            # stop: every further send would be another repeat on the next run
            left = sum(len(g) for g in groups[index + 1 :])
            errors.append(
                f"a delivery was not recorded ({exc}); the next run repeats that message "
                f"(same key); {left} alert(s) not tried this run"
            )
            not_tried = left
            break
    return SendReport(
        sent, failed, messages, tuple(dict.fromkeys(errors)), misconfigured, not_tried
    )


def anchored(url: str, data_dir: Path) -> str:
    if url.startswith("file://") and not Path(url.removeprefix("file://")).is_absolute():
        return f"file://{data_dir / url.removeprefix('file://')}"
    return url


def _messages(due: Sequence[OutboxAlert]) -> list[list[OutboxAlert]]:
    """Immediate alerts one per message; digest alerts one message per channel."""
    groups: list[list[OutboxAlert]] = []
    digests: dict[str, list[OutboxAlert]] = {}
    for alert in due:
        if alert.delivery == "digest":
            digests.setdefault(alert.channel, []).append(alert)
        else:
            groups.append([alert])
    return groups + list(digests.values())


def _message(group: Sequence[OutboxAlert]) -> Message:
    payloads = [json.loads(a.payload_json or "{}") for a in group]
    if len(group) == 1 and group[0].delivery != "digest":
        title, body = render_alert(payloads[0])
        return Message(group[0].idempotency_key, title, body, payloads[0])
    title, body = render_digest(payloads)
    # the same set of alerts always gives the same key, so a repeat after a crash is spotted
    ids = "\n".join(sorted(a.idempotency_key for a in group))
    key = "digest-" + hashlib.sha1(ids.encode()).hexdigest()
    return Message(key, title, body, {"digest": payloads})


def _failed(alert: OutboxAlert, error: str, now: datetime) -> DeliveryAttempt:
    return DeliveryAttempt(alert.alert_id, False, error, now + retry_delay(alert.attempts))
