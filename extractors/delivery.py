"""Deliver one alert message to one channel URL. The only module that sends alerts.

- ``console://``         print to standard output
- ``file://PATH``        append one JSON line (fsynced); PATH may be relative to the cwd
- ``http(s)://…``        POST JSON following Standard Webhooks: ``webhook-id`` is the alert's
                         idempotency key (the same on every retry), ``webhook-timestamp``,
                         and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``) when a
                         signing secret is configured
- anything else          apprise (slack://, mailto://, json://, …); ``notify()`` returning
                         False is a failure, never a success

Errors never contain the URL: channel URLs may hold secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

WEBHOOK_TIMEOUT = 10.0


@dataclass(frozen=True)
class Message:
    idempotency_key: str
    title: str
    body: str
    data: dict[str, Any]


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    error: str | None = None


def deliver(url: str, message: Message, *, secret: str | None = None) -> DeliveryResult:
    """Send ``message`` to ``url``; never raises."""
    try:
        if url.startswith("console://"):
            print(f"\n[alert] {message.title}\n{message.body}\n", flush=True)
            return DeliveryResult(True)
        if url.startswith("file://"):
            return _append_json_line(Path(url.removeprefix("file://")), message)
        if url.startswith(("http://", "https://")):
            return _post_webhook(url, message, secret)
        return _apprise(url, message)
    except Exception as exc:  # a channel failure is recorded, not raised
        return DeliveryResult(False, f"{type(exc).__name__}: {_scrub(str(exc), url)}")


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature: base64 HMAC-SHA256 of ``id.timestamp.body``."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else (secret.encode())
    )
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _append_json_line(path: Path, message: Message) -> DeliveryResult:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {"id": message.idempotency_key, "title": message.title, **message.data},
        ensure_ascii=False,
    )
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
        out.flush()
        os.fsync(out.fileno())
    return DeliveryResult(True)


def _post_webhook(url: str, message: Message, secret: str | None) -> DeliveryResult:
    timestamp = int(time.time())
    body = json.dumps(
        {"type": "newswatch.alert", "timestamp": timestamp, "data": message.data},
        ensure_ascii=False,
    ).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": message.idempotency_key,
        "webhook-timestamp": str(timestamp),
        "user-agent": "newswatch-alerts/0.1",
    }
    if secret:
        headers["webhook-signature"] = webhook_signature(
            secret, message.idempotency_key, timestamp, body
        )
    response = httpx.post(url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
    if 200 <= response.status_code < 300:
        return DeliveryResult(True)
    return DeliveryResult(False, f"receiver answered HTTP {response.status_code}")


def _apprise(url: str, message: Message) -> DeliveryResult:
    import apprise  # imported late: it is slow to import and only some channels need it

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return DeliveryResult(False, "apprise does not accept this channel URL")
    body = f"{message.body}\n\nidempotency-key: {message.idempotency_key}"
    if notifier.notify(title=message.title, body=body):
        return DeliveryResult(True)
    return DeliveryResult(False, "apprise reported the notification as not delivered")


def _scrub(text: str, url: str) -> str:
    return text.replace(url, "<channel url>")
