"""The pipeline bench's local site: RSS feeds over corpus pages, on several loopback hosts.

``Site(pages, feeds, hosts)`` holds the page bytes and the feeds; ``serve(site)`` runs a
keep-alive HTTP/1.1 server on 127.0.0.1 … 127.0.0.<hosts> (one port) in a thread and
yields the port. Routes: ``/robots.txt`` (allow all), ``/feed/<n>.xml`` (RSS, ETag and
Last-Modified, 304 on a match), ``/page/<k>.html`` (the page bytes as stored). Feed ``n``
and its pages live on host ``127.0.0.<1 + n % hosts>``, so the per-host connection limit
spreads as it would over many outlets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

LAST_MODIFIED = "Mon, 01 Dec 2025 00:00:00 GMT"


@dataclass(frozen=True)
class Site:
    pages: Sequence[bytes]
    titles: Sequence[str]
    feeds: int
    hosts: int

    def host(self, feed: int) -> str:
        return f"127.0.0.{1 + feed % self.hosts}"

    def feed_pages(self, feed: int) -> range:
        return range(feed, len(self.pages), self.feeds)

    def feed_xml(self, feed: int, port: int, now: datetime) -> bytes:
        base = f"http://{self.host(feed)}:{port}"
        items = "".join(
            f"<item><title>{escape(self.titles[k])}</title>"
            f"<link>{base}/page/{k}.html</link><guid>urn:bench:page:{k}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=k))}</pubDate></item>"
            for k in self.feed_pages(feed)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench feed {feed}</title><link>{base}/</link>{items}</channel></rss>"
        ).encode()

    def sources_toml(self, port: int) -> str:
        return "".join(
            f'[[source]]\nid = "bench-{n}"\nname = "Bench outlet {n}"\n'
            f'url = "http://{self.host(n)}:{port}/feed/{n}.xml"\nlanguage = "en"\nkind = "rss"\n\n'
            for n in range(self.feeds)
        )


def _response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Routes:
    def __init__(self, site: Site, port: int) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        self.site = site
        self.feeds = [site.feed_xml(n, port, now) for n in range(site.feeds)]

    def answer(self, path: str, headers: dict[str, str]) -> bytes:
        if path == "/robots.txt":
            return _response("200 OK", {"Content-Type": "text/plain"}, b"User-agent: *\n")
        try:
            if path.startswith("/feed/"):
                n = int(path[6:].split(".", 1)[0])
                etag = f'"feed-{n}"'
                cache = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
                if headers.get("if-none-match") == etag:
                    return _response("304 Not Modified", cache, b"")
                kind = {"Content-Type": "application/rss+xml"}
                return _response("200 OK", kind | cache, self.feeds[n])
            if path.startswith("/page/"):
                k = int(path[6:].split(".", 1)[0])
                kind = {"Content-Type": "text/html; charset=utf-8"}
                return _response("200 OK", kind, self.site.pages[k])
        except (ValueError, IndexError):
            pass
        return _response("404 Not Found", {"Content-Type": "text/plain"}, b"not found")


async def _handle(
    routes: _Routes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) < 2:
                break
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            writer.write(routes.answer(parts[1], headers))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextmanager
def serve(site: Site) -> Iterator[int]:
    """Serve ``site`` in a thread until the block ends; yields the port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> None:
        holder: dict[str, _Routes] = {}

        def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> object:
            return _handle(holder["routes"], r, w)

        first = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        holder["routes"] = _Routes(site, port)
        servers = [first]
        for n in range(2, site.hosts + 1):
            servers.append(await asyncio.start_server(handler, f"127.0.0.{n}", port, backlog=1024))
        state["port"], state["servers"] = port, servers
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    ready.wait(30)
    try:
        port = state["port"]
        assert isinstance(port, int)
        yield port
    finally:

        async def stop() -> None:
            for server in state.get("servers", []):  # type: ignore[attr-defined]
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
