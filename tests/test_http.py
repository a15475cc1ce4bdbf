"""Fetcher behaviour against real local servers: politeness, limits, retries, robots.txt."""

from __future__ import annotations

import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newswatch.core.records import FeedState, Source
from newswatch.extractors import transport
from newswatch.extractors.http import parse_retry_after
from tests.hostile.helpers import HOSTILE_SETTINGS, fetch, poll
from tests.hostile.server import GOOD_FEED, feed_route, item, rss
from tests.localserver import QuietServer, RecordedRequest, Route, routes_handler, serve

PAGE = Route(200, b"<html><body><p>article</p></body></html>", {"Content-Type": "text/html"})


def test_poll_sends_stored_validators_and_the_user_agent() -> None:
    log: list[RecordedRequest] = []
    with serve(routes_handler({"/f.xml": feed_route(GOOD_FEED)}, log)) as base:
        state = FeedState("f", etag='"e1"', last_modified="Mon, 03 Nov 2025 10:00:00 GMT")
        (result,) = poll([Source("f", "F", f"{base}/f.xml")], {"f": state})
    assert result.status == "ok"
    (request,) = log
    assert request.headers["If-None-Match"] == '"e1"'
    assert request.headers["If-Modified-Since"] == "Mon, 03 Nov 2025 10:00:00 GMT"
    assert request.headers["User-Agent"] == HOSTILE_SETTINGS.user_agent
    assert "gzip" in request.headers["Accept-Encoding"]
    assert "br" not in request.headers["Accept-Encoding"]  # only what we can bound


def test_first_poll_sends_no_validators() -> None:
    log: list[RecordedRequest] = []
    with serve(routes_handler({"/f.xml": feed_route(GOOD_FEED)}, log)) as base:
        poll([Source("f", "F", f"{base}/f.xml")])
    assert "If-None-Match" not in log[0].headers
    assert "If-Modified-Since" not in log[0].headers


def concurrency_probe(
    delay: float = 0.15,
) -> tuple[Callable[[BaseHTTPRequestHandler], None], list[int]]:
    """A route that records the highest number of requests in flight at once."""
    lock = threading.Lock()
    state = {"now": 0}
    peaks: list[int] = [0]

    def handle(h: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            peaks[0] = max(peaks[0], state["now"])
        time.sleep(delay)
        with lock:
            state["now"] -= 1
        h._send(PAGE)  # type: ignore[attr-defined]

    return handle, peaks


@contextmanager
def serve_on(address: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = QuietServer((address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_per_host_limit_caps_requests_in_flight() -> None:
    handle, peaks = concurrency_probe()
    settings = replace(HOSTILE_SETTINGS, max_per_host=2, max_connections=8, respect_robots=False)
    with serve(routes_handler({"/p": handle})) as base:
        pages = fetch([f"{base}/p?n={n}" for n in range(8)], settings=settings)
    assert all(p.status == "ok" for p in pages)
    assert peaks[0] == 2


def test_global_limit_caps_requests_across_hosts() -> None:
    probe, peaks = concurrency_probe()  # one counter shared by both servers
    settings = replace(
        HOSTILE_SETTINGS,
        max_per_host=4,
        max_connections=3,
        respect_robots=False,
        allow_private=("127.0.0.0/8",),
    )
    with (
        serve_on("127.0.0.3", routes_handler({"/p": probe})) as base_a,
        serve_on("127.0.0.4", routes_handler({"/p": probe})) as base_b,
    ):
        urls = [f"{base}/p?n={n}" for n in range(6) for base in (base_a, base_b)]
        pages = fetch(urls, settings=settings)
    assert all(p.status == "ok" for p in pages)
    assert peaks[0] == 3


def test_retry_after_is_waited_before_the_retry() -> None:
    seen: list[float] = []
    answers = [Route(429, b"", {"Retry-After": "1"}), feed_route(GOOD_FEED)]

    def handle(h: BaseHTTPRequestHandler) -> None:
        seen.append(time.monotonic())
        h._send(answers[min(len(seen) - 1, 1)])  # type: ignore[attr-defined]

    with serve(routes_handler({"/f.xml": handle})) as base:
        (result,) = poll([Source("f", "F", f"{base}/f.xml")])
    assert result.status == "ok"
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 0.9  # the server asked for one second


def test_client_errors_are_never_retried_for_pages() -> None:
    log: list[RecordedRequest] = []
    routes = {"/404": Route(404), "/410": Route(410), "/400": Route(400)}
    settings = replace(HOSTILE_SETTINGS, respect_robots=False)
    with serve(routes_handler(routes, log)) as base:
        pages = fetch([f"{base}/404", f"{base}/410", f"{base}/400"], settings=settings)
    assert [p.http_status for p in pages] == [404, 410, 400]
    assert all(p.error_class == "permanent" for p in pages)
    assert "removed" in (pages[1].error or "")
    assert len(log) == 3


def test_pages_come_back_in_order_with_body_and_redirect_chain() -> None:
    routes = {"/a": PAGE, "/b": Route(301, b"", {"Location": "/a"}), "/robots.txt": Route(404)}
    with serve(routes_handler(routes)) as base:
        first, second = fetch([f"{base}/a", f"{base}/b"])
    assert first.status == "ok" and first.body == PAGE.body
    assert first.content_type == "text/html"
    assert second.status == "ok" and second.final_url == f"{base}/a"
    assert second.redirects == (f"{base}/a",)


def test_page_over_the_cap_is_refused() -> None:
    big = Route(200, b"x" * (2 * 1024 * 1024), {"Content-Type": "text/html"})
    settings = replace(HOSTILE_SETTINGS, max_body_bytes=1024 * 1024, respect_robots=False)
    with serve(routes_handler({"/big": big})) as base:
        (page,) = fetch([f"{base}/big"], settings=settings)
    assert page.status == "error"
    assert page.error == "body exceeds 1 MiB (Content-Length 2 MiB)"


@pytest.mark.parametrize(
    ("robots", "path", "status", "error"),
    [
        (Route(200, b"User-agent: *\nDisallow: /private\n"), "/private/1", "error",
         "skipped: disallowed by robots.txt"),
        (Route(200, b"User-agent: *\nDisallow: /private\n"), "/public/1", "ok", None),
        (Route(200, b"User-agent: newswatch\nDisallow: /\n\nUser-agent: *\nAllow: /\n"),
         "/public/1", "error", "skipped: disallowed by robots.txt"),
        (Route(404), "/private/1", "ok", None),
        (Route(403), "/private/1", "ok", None),
        (Route(500), "/public/1", "error", "skipped: robots.txt unavailable (HTTP 500)"),
        (Route(429), "/public/1", "error", "skipped: robots.txt unavailable (HTTP 429)"),
        (Route(200, b"User-agent: *\nDisallow: /private\n" + b"# padding\n" * 100_000),
         "/private/1", "error", "skipped: disallowed by robots.txt"),
        # RFC 9309: `*` and `$` wildcards (urllib.robotparser lets /a.pdf through)
        (Route(200, b"User-agent: *\nDisallow: /*.pdf$\n"), "/docs/a.pdf", "error",
         "skipped: disallowed by robots.txt"),
        (Route(200, b"User-agent: *\nDisallow: /*.pdf$\n"), "/a.pdf", "error",
         "skipped: disallowed by robots.txt"),
        (Route(200, b"User-agent: *\nDisallow: /*.pdf$\n"), "/docs/a.pdf.html", "ok", None),
        # `$` anchors the end of path *and* query (protego): a query after .pdf is let through
        (Route(200, b"User-agent: *\nDisallow: /*.pdf$\n"), "/a.pdf?x", "ok", None),
        (Route(200, b"User-agent: *\nDisallow: /*/print/\n"), "/news/print/1", "error",
         "skipped: disallowed by robots.txt"),
        # RFC 9309: the longest match wins, whatever the order (urllib takes the first)
        (Route(200, b"User-agent: *\nDisallow: /\nAllow: /news/\n"), "/news/1", "ok", None),
        (Route(200, b"User-agent: *\nAllow: /news/\nDisallow: /\n"), "/news/1", "ok", None),
        (Route(200, b"User-agent: *\nDisallow: /\nAllow: /news/\n"), "/shop/1", "error",
         "skipped: disallowed by robots.txt"),
        (Route(200, b"User-agent: *\nAllow: /news/\nDisallow: /news/private/\n"),
         "/news/private/1", "error", "skipped: disallowed by robots.txt"),
    ],
)  # fmt: skip
def test_robots_txt_decides_whether_a_page_is_fetched(
    robots: Route, path: str, status: str, error: str | None
) -> None:
    log: list[RecordedRequest] = []
    routes = {"/robots.txt": robots, path: PAGE}
    settings = replace(HOSTILE_SETTINGS, retries=0)
    with serve(routes_handler(routes, log)) as base:
        (page,) = fetch([f"{base}{path}"], settings=settings)
    assert page.status == status
    assert page.error == error
    page_requests = [r for r in log if r.path == path]
    assert len(page_requests) == (1 if status == "ok" else 0)


def test_robots_txt_is_fetched_once_per_origin() -> None:
    log: list[RecordedRequest] = []
    routes = {"/robots.txt": Route(200, b"User-agent: *\nAllow: /\n"), "/p": PAGE}
    with serve(routes_handler(routes, log)) as base:
        pages = fetch([f"{base}/p?n={n}" for n in range(10)])
    assert all(p.status == "ok" for p in pages)
    assert sum(1 for r in log if r.path == "/robots.txt") == 1


def test_robots_can_be_switched_off() -> None:
    log: list[RecordedRequest] = []
    routes = {"/robots.txt": Route(200, b"User-agent: *\nDisallow: /\n"), "/p": PAGE}
    with serve(routes_handler(routes, log)) as base:
        (page,) = fetch([f"{base}/p"], settings=replace(HOSTILE_SETTINGS, respect_robots=False))
    assert page.status == "ok"
    assert [r.path for r in log] == ["/p"]


def test_feed_parse_deadline_is_recorded() -> None:
    many = rss("".join(item(n) for n in range(3000)))
    settings = replace(HOSTILE_SETTINGS, feed_parse_timeout=0.001, max_entries_per_feed=5000)
    with serve(routes_handler({"/many.xml": feed_route(many)})) as base:
        (slow,) = poll([Source("many", "M", f"{base}/many.xml")], settings=settings)
    assert slow.status == "error"
    assert slow.error == "feed parse exceeded the 0.001 s deadline"
    assert slow.error_class == "permanent"


def test_an_unexpected_exception_costs_one_record_not_the_run() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("kaboom")

    sources = [Source("a", "A", "http://127.0.0.1:9/a"), Source("b", "B", "http://127.0.0.1:9/b")]
    polls = poll(sources, transport=httpx.MockTransport(explode))
    assert [p.status for p in polls] == ["error", "error"]
    assert polls[0].error == "internal error: RuntimeError: kaboom"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2026 05:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_retry_after_header_forms(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 10, 21, 6, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


def test_a_429_pauses_its_host_only_briefly_and_says_so() -> None:
    """A 429's Retry-After 999999 costs the other pages on that host at most
    max_host_pause seconds in this run, not the run (nor the next 11 days)."""
    log: list[RecordedRequest] = []
    routes = {"/a": Route(429, b"", {"Retry-After": "999999"}), "/b": PAGE, "/c": PAGE}
    settings = replace(HOSTILE_SETTINGS, respect_robots=False, max_per_host=1, max_host_pause=0.3)
    with serve(routes_handler(routes, log)) as base:
        first, second, third = fetch([f"{base}/a", f"{base}/b", f"{base}/c"], settings=settings)
    assert first.status == "error" and first.retry_after_s == 999999
    assert "Retry-After 999999 s" in (first.error or "")
    for later in (second, third):
        assert later.status == "ok", later.error
        assert later.retry_after_s is None
    assert sorted(r.path for r in log) == ["/a", "/b", "/c"]


def test_a_feed_that_waited_for_a_host_pause_says_so() -> None:
    routes = {
        "/a.xml": Route(429, b"", {"Retry-After": "3600"}),
        "/b.xml": feed_route(GOOD_FEED),
    }
    settings = replace(HOSTILE_SETTINGS, max_per_host=1, max_host_pause=0.2)
    with serve(routes_handler(routes)) as base:
        a, b = poll(
            [Source("a", "A", f"{base}/a.xml"), Source("b", "B", f"{base}/b.xml")],
            settings=settings,
        )
    assert a.status == "error" and a.retry_after_s == 3600
    assert any("paused for 0.2 s (HTTP 429, Retry-After 3600 s, capped" in n for n in a.notes)
    assert b.status == "ok"
    assert any(n.startswith("waited 0.2 s: 127.0.0.1 asked for a pause") for n in b.notes)


# ------------------------------------------------------------------ TLS to a checked address

TLS_HOST = "feeds.test"  # resolved by the test's resolver only: the fetcher dials 127.0.0.1


def _certificate(
    name: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``name`` (a CA when ``issuer`` is None), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
    return builder.sign(signer, hashes.SHA256()), key


@contextmanager
def serve_tls(
    cert_name: str, log: list[RecordedRequest], server_names: list[str | None]
) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 whose certificate (from a test CA) names ``cert_name``;
    records the SNI each client sent. Yields the port and a client context trusting the CA."""
    ca, ca_key = _certificate("newswatch test CA")
    leaf, leaf_key = _certificate(cert_name, (ca.subject, ca_key))
    with tempfile.TemporaryDirectory() as folder:
        pem = Path(folder) / "server.pem"
        pem.write_bytes(
            leaf.public_bytes(serialization.Encoding.PEM)
            + leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_side.load_cert_chain(pem)

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        server_names.append(name)

    server_side.sni_callback = record_sni
    server = QuietServer(("127.0.0.1", 0), routes_handler({"/p": PAGE}, log))
    server.socket = server_side.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    client_side = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    try:
        yield server.server_address[1], client_side
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _tls_host_is_local(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host == TLS_HOST else []


TLS_SETTINGS = replace(HOSTILE_SETTINGS, respect_robots=False, retries=0)


def test_tls_to_the_checked_address_keeps_the_host_name_for_sni_and_the_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fetcher dials the checked address, but TLS is the name's: SNI, Host header and
    the certificate's name check all say feeds.test, not 127.0.0.1."""
    log: list[RecordedRequest] = []
    names: list[str | None] = []
    with serve_tls(TLS_HOST, log, names) as (port, trusts_test_ca):
        monkeypatch.setattr(transport, "ssl_context", lambda: trusts_test_ca)
        (page,) = fetch(
            [f"https://{TLS_HOST}:{port}/p"], settings=TLS_SETTINGS, resolver=_tls_host_is_local
        )
    assert page.status == "ok", page.error
    assert page.body == PAGE.body
    assert names == [TLS_HOST]
    (request,) = log
    assert request.headers["Host"] == f"{TLS_HOST}:{port}"


def test_tls_refuses_a_certificate_for_another_name(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[RecordedRequest] = []
    names: list[str | None] = []
    with serve_tls("other.test", log, names) as (port, trusts_test_ca):
        monkeypatch.setattr(transport, "ssl_context", lambda: trusts_test_ca)
        (page,) = fetch(
            [f"https://{TLS_HOST}:{port}/p"], settings=TLS_SETTINGS, resolver=_tls_host_is_local
        )
    assert page.status == "error" and page.error_class == "permanent"
    assert (page.error or "").startswith("TLS error: ")
    assert "Hostname mismatch, certificate is not valid for 'feeds.test'" in (page.error or "")
    assert names == [TLS_HOST]
    assert log == []


def test_tls_verifies_certificates_by_default() -> None:
    """Without the test's trust (the fetcher's own context), the test CA is not trusted."""
    log: list[RecordedRequest] = []
    names: list[str | None] = []
    with serve_tls(TLS_HOST, log, names) as (port, _trusts_test_ca):
        (page,) = fetch(
            [f"https://{TLS_HOST}:{port}/p"], settings=TLS_SETTINGS, resolver=_tls_host_is_local
        )
    assert page.status == "error" and page.error_class == "permanent"
    assert "certificate verify failed" in (page.error or "")
    assert names == [TLS_HOST]
    assert log == []
