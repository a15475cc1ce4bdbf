"""Deliver one alert message to one channel URL. The only module that sends alerts.

- ``console://``         print to standard output
- ``file://PATH``        append one JSON line (fsynced); PATH may be relative to the cwd
- ``http(s)://…``        POST JSON following Standard Webhooks: ``webhook-id`` is the alert's
                         idempotency key (the same on every retry), ``webhook-timestamp``,
                         and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``) when a
                         signing secret is configured
- anything else          apprise (slack://, mailto://, json://, …); ``notify()`` returning
                         False is a failure, never a success

Egress: webhooks go through the pipeline's guarded client
(``newswatch.extractors.http.Fetcher.send``):
the SSRF guard (private, loopback, link-local … addresses refused unless allowed with
``--allow-private`` / ``NEWSWATCH_ALLOW_PRIVATE``), a connection to the checked address
only, no redirects, a total deadline of ``WEBHOOK_TIMEOUT`` s and the receiver's answer read
up to 64 KiB. Apprise opens its own connections (``requests`` inside each plugin) and has no
hook to route them through that client, so before handing a URL to apprise the host of
every scheme that names a destination of the user's choosing (``APPRISE_HOST_SCHEMES``:
json://, xml://, form://, mailto://, ntfy://, gotify://, …) is resolved and checked by the
same guard; services with a fixed public endpoint (slack://, discord://, …) are passed as
they are (their "host" is a token, which must not leak into a DNS query). What apprise then
does is apprise's: it resolves again, follows redirects, reads the whole answer and applies
only its own connect/read timeouts (``?cto=``/``?rto=``, 4 s each by default).

Errors never contain the URL: channel URLs may hold secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from newswatch.core.errors import FetchError, TransientFetchError
from newswatch.core.settings import Settings
from newswatch.extractors.http import request_blocking
from newswatch.extractors.ssrf import check_addresses, parse_ip

WEBHOOK_TIMEOUT = 10.0
WEBHOOK_ANSWER_BYTES = 64 * 1024
# apprise schemes whose host part is a server the user picked (checked before apprise runs)
APPRISE_HOST_SCHEMES = frozenset(
    {
        *("json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"),
        *("ntfy", "ntfys", "gotify", "gotifys", "mmost", "mmosts", "rocket", "rockets"),
        *("matrix", "matrixs", "apprise", "apprises", "ncloud", "nclouds", "kodi", "kodis"),
        *("xbmc", "xbmcs", "mqtt", "mqtts", "rsyslog", "syslog", "growl"),
    }
)


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


def deliver(
    url: str,
    message: Message,
    *,
    secret: str | None = None,
    allow_private: Sequence[str] | None = None,
) -> DeliveryResult:
    """Send ``message`` to ``url``; never raises. ``allow_private`` lists hosts/networks
    the SSRF guard lets through (None: ``$NEWSWATCH_ALLOW_PRIVATE``)."""
    allowed = tuple(allow_private) if allow_private is not None else None
    settings = Settings.from_env(allow_private=allowed)
    try:
        if url.startswith("console://"):
            print(f"\n[alert] {message.title}\n{message.body}\n", flush=True)
            return DeliveryResult(True)
        if url.startswith("file://"):
            return _append_json_line(Path(url.removeprefix("file://")), message)
        if url.startswith(("http://", "https://")):
            return _post_webhook(url, message, secret, settings)
        return _apprise(url, message, settings)
    except FetchError as exc:  # the guard's or the client's one clear line
        return DeliveryResult(False, _scrub(str(exc), url))
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


def _post_webhook(
    url: str, message: Message, secret: str | None, settings: Settings
) -> DeliveryResult:
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
    guarded = replace(settings, total_timeout=min(settings.total_timeout, WEBHOOK_TIMEOUT))
    response = request_blocking(
        guarded, "POST", url, content=body, headers=headers, max_bytes=WEBHOOK_ANSWER_BYTES
    )
    if 200 <= response.status < 300:
        return DeliveryResult(True)
    if 300 <= response.status < 400:
        return DeliveryResult(
            False, f"receiver answered HTTP {response.status} (redirects are not followed)"
        )
    return DeliveryResult(False, f"receiver answered HTTP {response.status}")


def check_apprise_host(url: str, settings: Settings) -> None:
    """Raise the SSRF guard's refusal when ``url`` is an apprise URL whose host the user
    chose (``APPRISE_HOST_SCHEMES``) and it resolves to an address the guard refuses."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in APPRISE_HOST_SCHEMES or not parts.hostname:
        return
    host = unquote(parts.hostname)
    literal = parse_ip(host)
    if literal is not None:
        check_addresses(host, [str(literal)], settings.allow_private)
        return
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TransientFetchError(f"DNS lookup failed: {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    check_addresses(host, addresses, settings.allow_private)


def _apprise(url: str, message: Message, settings: Settings) -> DeliveryResult:
    import apprise  # imported late: it is slow to import and only some channels need it

    check_apprise_host(url, settings)

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return DeliveryResult(False, "apprise does not accept this channel URL")
    body = f"{message.body}\n\nidempotency-key: {message.idempotency_key}"
    if notifier.notify(title=message.title, body=body):
        return DeliveryResult(True)
    return DeliveryResult(False, "apprise reported the notification as not delivered")


def _scrub(text: str, url: str) -> str:
    return text.replace(url, "<channel url>")
