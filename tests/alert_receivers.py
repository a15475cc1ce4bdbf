"""Real alert receivers on 127.0.0.1: a webhook HTTP server and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from aiosmtpd.controller import Controller

from tests.localserver import serve


@dataclass
class WebhookLog:
    status: int = 200  # what the receiver answers; set 500/503 to simulate an outage
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@contextmanager
def webhook_receiver(log: WebhookLog) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if log.status < 300:
                headers = {k.lower(): v for k, v in self.headers.items()}
                log.received.append((headers, json.loads(body)))
            self.send_response(log.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve(Handler) as base:
        yield f"{base}/hook"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[str]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox.messages
    finally:
        controller.stop()
