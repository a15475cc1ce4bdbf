"""A small, fast HTTP/1.1 keep-alive server for the fetch benchmark (own process).

    python bench/fetch/server.py --hosts 4 --feeds 200 --items 50 --pages 5000

Listens on 127.0.0.1 … 127.0.0.N (same port), prints the port on stdout, serves:
- ``/robots.txt``: allow everything;
- ``/feed/<n>.xml``: RSS with ``--items`` items, ETag ``"feed-<n>"``, 304 on a match;
- ``/page/<n>.html``: a ~20 KB article page, gzip when the client accepts it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys

PAGE_VARIANTS = 50


def make_feed(n: int, items: int, host: str) -> bytes:
    entries = "".join(
        f"<item><title>Feed {n} story {i}: Shahed drones and the Alabuga plant</title>"
        f"<link>http://{host}/page/{(n * items + i) % 5000}.html</link>"
        f"<guid>urn:feed:{n}:{i}</guid>"
        f"<pubDate>Mon, {1 + i % 28:02d} Sep 2025 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Story {i} of feed {n}: Iran and Russia expand drone "
        f"production; analysts describe the Geran-2 supply chain.&lt;/p&gt;</description>"
        f"</item>"
        for i in range(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {n}</title><link>http://{host}/</link>{entries}</channel></rss>"
    ).encode()


def make_page(n: int) -> bytes:
    paragraph = (
        "<p>Russia has expanded production of Shahed-type drones, known as Geran-2, at the "
        "Alabuga special economic zone in Tatarstan, with Iranian design assistance. "
        f"Variant {n}.</p>\n"
    )
    return (
        f"<!doctype html><html><head><title>Article {n}</title></head><body><article>"
        f"<h1>Article {n}</h1>{paragraph * 80}</article></body></html>"
    ).encode()


class Content:
    def __init__(self, feeds: int, items: int, host: str) -> None:
        self.feeds = [make_feed(n, items, host) for n in range(feeds)]
        pages = [make_page(n) for n in range(PAGE_VARIANTS)]
        self.pages = pages
        self.pages_gzip = [gzip.compress(p, 6) for p in pages]


def response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def route(content: Content, path: str, headers: dict[str, str]) -> bytes:
    if path == "/robots.txt":
        return response("200 OK", {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
    try:
        if path.startswith("/feed/"):
            n = int(path[6:].split(".", 1)[0])
            etag = f'"feed-{n}"'
            if headers.get("if-none-match") == etag:
                return response("304 Not Modified", {"ETag": etag}, b"")
            body = content.feeds[n]
            return response("200 OK", {"Content-Type": "application/rss+xml", "ETag": etag}, body)
        if path.startswith("/page/"):
            n = int(path[6:].split(".", 1)[0]) % PAGE_VARIANTS
            if "gzip" in headers.get("accept-encoding", ""):
                gz = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
                return response("200 OK", gz, content.pages_gzip[n])
            return response("200 OK", {"Content-Type": "text/html"}, content.pages[n])
    except (ValueError, IndexError):
        pass
    return response("404 Not Found", {"Content-Type": "text/plain"}, b"not found")


async def handle(
    content: Content, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
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
            writer.write(route(content, parts[1], headers))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(hosts: int, feeds: int, items: int) -> None:
    content = Content(feeds, items, "127.0.0.1")
    first = await asyncio.start_server(
        lambda r, w: handle(content, r, w), "127.0.0.1", 0, backlog=1024
    )
    port = first.sockets[0].getsockname()[1]
    servers = [first]
    for n in range(2, hosts + 1):
        servers.append(
            await asyncio.start_server(
                lambda r, w: handle(content, r, w), f"127.0.0.{n}", port, backlog=1024
            )
        )
    print(port, flush=True)
    # Runs until the benchmark closes our stdin.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for server in servers:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.hosts, args.feeds, args.items))
