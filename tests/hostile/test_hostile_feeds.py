"""A table of hostile feed servers: each case ends in a clear record, and the good feed
polled in the same ``poll_feeds`` call still loads."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import pytest

from newswatch.core.records import FeedPoll, FeedState, Source
from tests.hostile.helpers import poll
from tests.hostile.server import (
    GOOD_FEED,
    MIB,
    conditional,
    deflate_bomb,
    endless_body,
    feed_route,
    gzip_bomb,
    gzipped_feed,
    item,
    reset_connection,
    rss,
    sequence,
    short_body,
    silent,
    slow_drip,
)
from tests.localserver import RecordedRequest, Route, routes_handler, serve

Check = Callable[[FeedPoll, list[RecordedRequest]], None]


@dataclass(frozen=True)
class Case:
    id: str
    route: Route | Callable[[BaseHTTPRequestHandler], None] | None
    status: str  # ok | error | not_modified
    error: str | None = None  # a substring the recorded error must contain
    error_class: str | None = None
    check: Check | None = None
    url: str | None = None  # "{base}", "{https}", "{closed}" are filled in
    state: FeedState | None = None


def requests_to(path: str, log: list[RecordedRequest]) -> int:
    return sum(1 for r in log if r.path == path)


def redirect(location: str, status: int = 302) -> Route:
    return Route(status, b"", {"Location": location})


HTML_PAGE = (
    b"<!doctype html><html><head><title>News</title>"
    b'<link rel="alternate" type="application/rss+xml" href="/feeds/main.xml">'
    b"</head><body><p>Front page</p></body></html>"
)
HOSTILE_SUMMARY = (
    "<description><![CDATA[<p onclick=\"alert(1)\">Drones</p><script>alert('x')</script>"
    '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">more</a>]]></description>'
)
XXE_FEED = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><title>x</title><item><title>&xxe;</title>'
    b"<link>http://example.org/x</link><description>&xxe;</description></item></channel></rss>"
)
LAUGHS = b"".join(
    b'<!ENTITY lol%d "&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;&lol%d;">'
    % (n, *([n - 1] * 10))
    for n in range(1, 10)
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">' + LAUGHS + b"]>"
    b'<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title>'
    b"</item></channel></rss>"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
CYRILLIC_FEED = rss(item(1).replace("Item 1", "Шахед и Герань-2"))


def check_entries(count: int) -> Check:
    def check(poll: FeedPoll, log: list[RecordedRequest]) -> None:
        assert len(poll.entries) == count

    return check


def check_requests(path: str, count: int) -> Check:
    def check(poll: FeedPoll, log: list[RecordedRequest]) -> None:
        assert requests_to(path, log) == count

    return check


def check_text_is_valid(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.entries
    for entry in poll.entries:
        entry.title.encode("utf-8")  # no lone surrogates
        entry.summary.encode("utf-8")
        assert "\x00" not in entry.title


def check_cyrillic(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.entries[0].title == "Шахед и Герань-2"


def check_discovered(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.discovered_feed_url is not None
    assert poll.discovered_feed_url.endswith("/feeds/main.xml")


def check_truncated(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert len(poll.entries) == 500
    assert any("100000" in note for note in poll.notes)
    assert poll.entries[0].title == "Item 0"


def check_duplicates(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert sorted(e.guid for e in poll.entries) == ["urn:item:1", "urn:item:2"]
    assert any("repeated GUID" in note for note in poll.notes)


def check_dates(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    flags = {e.title: e.date_flag for e in poll.entries}
    assert flags == {"Item 1": "missing", "Item 2": "future_clamped", "Item 3": "feed"}
    clamped = next(e for e in poll.entries if e.title == "Item 2")
    assert clamped.published_at == poll.fetched_at


def check_unparseable_date(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    (entry,) = poll.entries
    assert entry.date_flag == "missing"
    assert entry.published_at == poll.fetched_at


def check_relative_links(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    links = sorted(e.link for e in poll.entries)
    assert links[0].startswith("http://127.0.0.1:") and links[0].endswith("/case/a/1")
    assert links[1] == "http://cdn.example.org/a/2"  # scheme of the feed URL


def check_sanitised(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    (entry,) = poll.entries
    assert entry.link == ""  # javascript: dropped
    assert "Drones" in entry.summary
    for marker in ("alert", "<script", "onerror", "onclick", "javascript:"):
        assert marker not in entry.summary


def check_no_file_read(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert not poll.entries
    text = f"{poll.error} {poll.bozo_error}"
    assert "root:" not in text


def check_xxe(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    for entry in poll.entries:
        assert "root:" not in entry.title + entry.summary


def check_laughs(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert all(len(e.title) < 100 for e in poll.entries)
    assert poll.bozo
    assert any("entity expansion" in note for note in poll.notes)


def check_author_cut(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert len(poll.entries[0].authors[0]) == 512
    assert any("author" in note for note in poll.notes)


def check_not_modified(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.etag == '"v1"'
    assert not poll.entries
    assert log[-1].headers.get("If-None-Match") == '"v1"' or any(
        r.headers.get("If-None-Match") == '"v1"' for r in log
    )


def check_new_etag(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.etag == '"v2"'
    assert len(poll.entries) == 3


def check_retry_after_recorded(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.retry_after_s == 999999
    assert requests_to("/case/429-far", log) == 1


def check_retry_after_date(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.retry_after_s is not None and poll.retry_after_s > 3600
    assert requests_to("/case/429-date", log) == 1


def check_final_url(poll: FeedPoll, log: list[RecordedRequest]) -> None:
    assert poll.final_url is not None and poll.final_url.endswith("/good.xml")
    assert len(poll.entries) == 3


CASES = [
    # --- not a feed, or nothing in it
    Case("html-page", Route(200, HTML_PAGE, {"Content-Type": "text/html"}), "error",
         "not a feed (text/html); the page links a feed", "permanent", check_discovered),
    Case("empty-body", feed_route(b""), "error", "empty response", "transient"),
    Case("whitespace-body", feed_route(b"  \n\t "), "error", "empty response"),
    Case("binary-png", Route(200, PNG, {"Content-Type": "image/png"}), "error", "not a feed"),
    Case("body-is-a-path", feed_route(b"/etc/hostname"), "error", "not a feed",
         check=check_no_file_read),
    # --- size, compression, time
    Case("endless-body", endless_body(), "error", "body exceeds 8 MiB", "permanent"),
    Case("content-length-huge", Route(200, b"", {"Content-Length": str(50 * MIB)}), "error",
         "body exceeds 8 MiB (Content-Length 50 MiB)"),
    Case("gzip-bomb", feed_route(gzip_bomb(), **{"Content-Encoding": "gzip"}), "error",
         "body exceeds 8 MiB (after decompression)", "permanent"),
    Case("deflate-bomb", feed_route(deflate_bomb(), **{"Content-Encoding": "deflate"}), "error",
         "body exceeds 8 MiB (after decompression)"),
    Case("gzip-feed", gzipped_feed(GOOD_FEED), "ok", check=check_entries(3)),
    Case("gzip-corrupt", feed_route(b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"}),
         "error", "could not decode gzip body"),
    Case("unsolicited-brotli", feed_route(b"\x0b\x02\x80", **{"Content-Encoding": "br"}),
         "error", "unsupported content-encoding: br"),
    Case("slow-drip", slow_drip(), "error", "timed out after 1.5 s (total deadline", "transient"),
    Case("never-answers", silent(), "error", "read timeout", "transient"),
    Case("short-body", short_body(), "error", "incomplete body", "transient",
         check_requests("/case/short-body", 3)),
    Case("connection-reset", reset_connection(), "error", "(after 3 attempts)", "transient",
         check_requests("/case/connection-reset", 3)),
    # --- redirects
    Case("redirect-loop", redirect("/case/redirect-loop"), "error", "too many redirects (5)",
         "permanent"),
    Case("redirect-to-good", redirect("/good.xml", 301), "ok", check=check_final_url),
    Case("redirect-metadata", redirect("http://169.254.169.254/latest/meta-data/"), "error",
         "refused by SSRF guard: 169.254.169.254 is a link-local address", "permanent"),
    Case("redirect-10-net", redirect("http://10.0.0.1/feed"), "error",
         "10.0.0.1 is a private address"),
    Case("redirect-protocol-relative", redirect("//192.168.1.1/feed"), "error",
         "192.168.1.1 is a private address"),
    Case("redirect-ipv6-loopback", redirect("http://[::1]/feed"), "error",
         "::1 is a loopback address"),
    Case("redirect-ipv4-mapped", redirect("http://[::ffff:10.1.2.3]/feed"), "error",
         "is a private address"),
    Case("redirect-unspecified", redirect("http://0.0.0.0/feed"), "error",
         "is an unspecified address"),
    Case("redirect-decimal-ip", redirect("http://2130706434/feed"), "error",
         "2130706434 (127.0.0.2) is a loopback address"),
    Case("redirect-file", redirect("file:///etc/passwd"), "error", "scheme not allowed: file"),
    Case("redirect-ftp", redirect("ftp://example.org/feed"), "error", "scheme not allowed: ftp"),
    Case("redirect-gopher", redirect("gopher://example.org/"), "error", "scheme not allowed"),
    Case("redirect-data", redirect("data:text/xml,<rss/>"), "error", "scheme not allowed: data"),
    Case("redirect-no-location", Route(302, b""), "error", "redirect without a Location"),
    # --- HTTP statuses
    Case("status-404", Route(404, b"nope"), "error", "HTTP 404", "permanent",
         check_requests("/case/status-404", 1)),
    Case("status-410", Route(410, b"gone"), "error", "HTTP 410 Gone: the resource was removed",
         "permanent"),
    Case("status-403", Route(403, b"no"), "error", "HTTP 403 Forbidden: blocked by the server",
         "permanent", check_requests("/case/status-403", 1)),
    Case("cloudflare-challenge",
         Route(403, b"", {"Server": "cloudflare", "cf-mitigated": "challenge"}),
         "error", "blocked by a Cloudflare challenge"),
    Case("status-500-always", Route(500, b"boom"), "error",
         "HTTP 500 Internal Server Error: server error (after 3 attempts)", "transient",
         check_requests("/case/status-500-always", 3)),
    Case("status-503-then-ok", sequence(Route(503), Route(502), feed_route(GOOD_FEED)), "ok",
         check=check_entries(3)),
    Case("status-429-then-ok",
         sequence(Route(429, b"", {"Retry-After": "1"}), feed_route(GOOD_FEED)), "ok",
         check=check_entries(3)),
    Case("429-far", Route(429, b"", {"Retry-After": "999999"}), "error",
         "rate limited; Retry-After 999999 s", "transient", check_retry_after_recorded),
    Case("429-date", Route(429, b"", {"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}),
         "error", "HTTP 429", "transient", check_retry_after_date),
    Case("not-modified", conditional(GOOD_FEED, '"v1"'), "not_modified",
         check=check_not_modified, state=FeedState("hostile", etag='"v1"')),
    Case("etag-changed", conditional(GOOD_FEED, '"v2"'), "ok", check=check_new_etag,
         state=FeedState("hostile", etag='"v1"')),
    Case("304-unconditional", Route(304, b""), "error", "304 Not Modified to an unconditional"),
    # --- transport
    Case("https-to-plain-http", None, "error", "TLS error", "permanent", url="{https}/good.xml"),
    Case("nxdomain", None, "error", "DNS lookup failed: nonexistent.invalid", "transient",
         url="http://nonexistent.invalid/feed"),
    Case("connection-refused", None, "error", "connection failed", "transient",
         url="http://127.0.0.1:{closed}/feed"),
    Case("ftp-source", None, "error", "scheme not allowed: ftp", "permanent",
         url="ftp://example.org/feed.xml"),
    Case("private-source", None, "error", "10.9.8.7 is a private address", "permanent",
         url="http://10.9.8.7/feed.xml"),
    # --- content
    Case("invalid-utf8", feed_route(rss(item(1).replace("Item 1", "Bad \xff\xfe bytes"))
                                    .replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe")),
         "ok", check=check_text_is_valid),
    Case("wrong-declared-charset",
         Route(200, CYRILLIC_FEED, {"Content-Type": "application/rss+xml; charset=iso-8859-1"}),
         "ok", check=check_text_is_valid),
    Case("undeclared-cp1251",
         feed_route(rss(item(1).replace("Item 1", "Шахед"), declaration='<?xml version="1.0"?>')
                    .replace("Шахед".encode(), "Шахед".encode("cp1251"))),
         "ok", check=check_text_is_valid),
    Case("utf16-with-bom", Route(200, CYRILLIC_FEED.decode().replace("utf-8", "utf-16")
                                 .encode("utf-16"), {"Content-Type": "application/xml"}),
         "ok", check=check_cyrillic),
    Case("utf16-without-bom", Route(200, CYRILLIC_FEED.decode().replace("utf-8", "utf-16")
                                    .encode("utf-16-le"), {"Content-Type": "application/xml"}),
         "ok", check=check_cyrillic),
    Case("items-100k", feed_route(rss("".join(
        f"<item><title>Item {n}</title><guid>{n}</guid></item>" for n in range(100_000)))),
         "ok", check=check_truncated),
    Case("duplicate-guids", feed_route(rss(item(1) + item(2) + item(1) + item(2))), "ok",
         check=check_duplicates),
    Case("missing-and-future-dates", feed_route(rss(
        item(1).replace("<pubDate>Mon, 03 Nov 2025 10:00:00 GMT</pubDate>", "")
        + item(2, date="Thu, 01 Jan 2099 00:00:00 GMT")
        + item(3, date="Sun, 02 Nov 2025 09:00:00 GMT")
    )), "ok", check=check_dates),
    Case("unparseable-date", feed_route(rss(item(1, date="not a date at all"))), "ok",
         check=check_unparseable_date),
    Case("relative-links", feed_route(rss(
        "<item><title>a</title><link>a/1</link><guid>1</guid></item>"
        "<item><title>b</title><link>//cdn.example.org/a/2</link><guid>2</guid></item>")),
         "ok", check=check_relative_links),
    Case("script-in-summary", feed_route(rss(
        f"<item><title>s</title><link>javascript:alert(1)</link>{HOSTILE_SUMMARY}</item>")),
         "ok", check=check_sanitised),
    Case("xxe-entity", feed_route(XXE_FEED), "ok", check=check_xxe),
    Case("billion-laughs", feed_route(BILLION_LAUGHS), "ok", check=check_laughs),
    Case("redos-author", feed_route(rss(item(1, extra=f"<author>{'a' * 64_000}</author>"))),
         "ok", check=check_author_cut),
    Case("malformed-xml-salvaged", feed_route(rss(item(1) + item(2) + "<item><title>bro")), "ok",
         check=check_entries(2)),
]  # fmt: skip


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[tuple[str, list[RecordedRequest]]]:
    routes: dict[str, object] = {f"/case/{case.id}": case.route for case in CASES if case.route}
    routes["/good.xml"] = feed_route(GOOD_FEED)
    log: list[RecordedRequest] = []
    with serve(routes_handler(routes, log)) as base:  # type: ignore[arg-type]
        yield base, log


@pytest.fixture(scope="module")
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_at_least_thirty_scenarios() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_source_is_recorded_and_the_good_one_still_loads(
    case: Case, hostile_server: tuple[str, list[RecordedRequest]], closed_port: int
) -> None:
    base, log = hostile_server
    url = (case.url or "{base}/case/" + case.id).format(
        base=base, https=base.replace("http://", "https://"), closed=closed_port
    )
    sources = [Source("hostile", "Hostile", url), Source("good", "Good", f"{base}/good.xml")]
    states = {"hostile": case.state} if case.state else {}

    hostile, good = poll(sources, states)

    assert good.status == "ok" and len(good.entries) == 3, good.error
    assert hostile.source_id == "hostile"
    assert hostile.status == case.status, hostile.error
    if case.error is not None:
        assert hostile.error is not None and case.error in hostile.error
    else:
        assert hostile.error is None
    if case.error_class is not None:
        assert hostile.error_class == case.error_class
    if case.check is not None:
        case.check(hostile, log)
