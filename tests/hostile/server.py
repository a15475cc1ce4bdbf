"""Hostile responses for the fetcher: each a ``tests.localserver`` route (bounded loops only).

Every writer stops at a fixed number of iterations or as soon as the client hangs up.
"""

from __future__ import annotations

import gzip
import socket
import struct
import time
import zlib
from collections.abc import Callable
from functools import cache
from http.server import BaseHTTPRequestHandler

from tests.localserver import Route

Handler = Callable[[BaseHTTPRequestHandler], None]
MIB = 1024 * 1024


def rss(items: str, *, channel_extra: str = "", declaration: str = "") -> bytes:
    decl = declaration or '<?xml version="1.0" encoding="utf-8"?>'
    return (
        f'{decl}<rss version="2.0"><channel><title>Hostile</title>'
        f"<link>http://example.org/</link>{channel_extra}{items}</channel></rss>"
    ).encode()


def item(n: int, *, date: str = "Mon, 03 Nov 2025 10:00:00 GMT", extra: str = "") -> str:
    return (
        f"<item><title>Item {n}</title><link>http://example.org/a/{n}</link>"
        f"<guid>urn:item:{n}</guid><pubDate>{date}</pubDate>{extra}</item>"
    )


GOOD_FEED = rss("".join(item(n) for n in range(3)))


def feed_route(body: bytes, **headers: str) -> Route:
    return Route(200, body, {"Content-Type": "application/rss+xml; charset=utf-8", **headers})


def _send_head(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.flush()


def endless_body(total_limit: int = 64 * MIB, chunk: int = 64 * 1024) -> Handler:
    """200 without Content-Length, streaming zeros until the client gives up."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        _send_head(h, 200, {"Content-Type": "application/rss+xml", "Connection": "close"})
        block = b"<!-- " + b"x" * (chunk - 10) + b" -->\n"
        try:
            for _ in range(total_limit // chunk):
                h.wfile.write(block)
        except OSError:
            return

    return handle


def slow_drip(length: int = 60, interval: float = 0.1) -> Handler:
    """Headers at once, then one byte per ``interval`` (each gap shorter than the read timeout)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        _send_head(h, 200, {"Content-Type": "application/rss+xml", "Content-Length": str(length)})
        try:
            for _ in range(length):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(interval)
        except OSError:
            return

    return handle


def silent(seconds: float = 3.0) -> Handler:
    """Accept the request, never answer (bounded: gives up after ``seconds``)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        time.sleep(seconds)

    return handle


def reset_connection() -> Handler:
    """Close the socket with an RST (SO_LINGER 0) before any response."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()

    return handle


def short_body(declared: int = 5000, sent: bytes = b"<rss><channel>") -> Handler:
    """Content-Length promises more than is sent, then the server closes."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        _send_head(h, 200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)})
        h.wfile.write(sent)
        h.wfile.flush()

    return handle


def sequence(*routes: Route) -> Handler:
    """Answer the n-th request with the n-th route (the last one repeats)."""
    calls: list[int] = []

    def handle(h: BaseHTTPRequestHandler) -> None:
        route = routes[min(len(calls), len(routes) - 1)]
        calls.append(1)
        h._send(route)  # type: ignore[attr-defined]

    return handle


def conditional(body: bytes, etag: str) -> Handler:
    """200 with an ETag; 304 when the request carries that ETag in If-None-Match."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h._send(Route(304, b"", {"ETag": etag}))  # type: ignore[attr-defined]
        else:
            h._send(feed_route(body, ETag=etag))  # type: ignore[attr-defined]

    return handle


@cache
def gzip_bomb(decoded: int = 64 * MIB) -> bytes:
    """A gzip member that inflates to ``decoded`` zero bytes (~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(decoded // MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


@cache
def deflate_bomb(decoded: int = 64 * MIB) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(decoded // MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzipped_feed(body: bytes) -> Route:
    return feed_route(gzip.compress(body), **{"Content-Encoding": "gzip"})
