"""SSRF guard: forbidden addresses are refused *before* any connection.

A trap listener on 127.0.0.2 (loopback, not allow-listed) must never see a connection,
whichever way a URL points at it: directly, by redirect, as a decimal or IPv4-mapped
address, or through a name whose DNS answer is internal.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest

from newswatch.core.errors import PermanentFetchError
from newswatch.core.records import Source
from newswatch.extractors.ssrf import check_addresses, forbidden_reason
from tests.hostile.helpers import HOSTILE_SETTINGS, fetch, poll
from tests.hostile.server import GOOD_FEED, feed_route
from tests.localserver import Route, routes_handler, serve


@pytest.fixture()
def trap() -> Iterator[tuple[socket.socket, int]]:
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(16)
    listener.setblocking(False)
    try:
        yield listener, listener.getsockname()[1]
    finally:
        listener.close()


def connections_accepted(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


async def internal_dns(host: str, port: int) -> list[str]:
    answers = {
        "trap.internal.test": ["127.0.0.2"],
        "metadata.internal.test": ["169.254.169.254"],
        "mixed.internal.test": ["127.0.0.2", "10.0.0.5"],
    }
    if host not in answers:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return answers[host]


def trap_urls(port: int, base: str) -> list[str]:
    return [
        f"http://127.0.0.2:{port}/feed",
        f"http://2130706434:{port}/feed",  # 127.0.0.2 as one decimal number
        f"http://[::ffff:127.0.0.2]:{port}/feed",
        f"http://trap.internal.test:{port}/feed",
        f"http://mixed.internal.test:{port}/feed",
        f"http://metadata.internal.test:{port}/latest/meta-data/",
        f"{base}/to-trap",
        f"{base}/to-trap-by-name",
        f"{base}/to-trap-decimal",
    ]


def test_no_url_or_redirect_variant_reaches_the_trap(trap: tuple[socket.socket, int]) -> None:
    listener, port = trap
    routes = {
        "/good.xml": feed_route(GOOD_FEED),
        "/to-trap": Route(302, b"", {"Location": f"http://127.0.0.2:{port}/x"}),
        "/to-trap-by-name": Route(302, b"", {"Location": f"http://trap.internal.test:{port}/"}),
        "/to-trap-decimal": Route(307, b"", {"Location": f"http://2130706434:{port}/"}),
    }
    with serve(routes_handler(routes)) as base:
        urls = trap_urls(port, base)
        sources = [Source(f"s{n}", "trap", url) for n, url in enumerate(urls)]
        sources.append(Source("good", "good", f"{base}/good.xml"))
        polls = poll(sources, resolver=internal_dns)
        pages = fetch(urls, resolver=internal_dns)

    *refused_polls, good = polls
    assert good.status == "ok"
    for record in [*refused_polls, *pages]:
        assert record.status == "error"
        assert record.error is not None and "refused by SSRF guard" in record.error
        assert record.error_class == "permanent"
    assert connections_accepted(listener) == 0


def test_allow_list_lets_a_named_private_host_through() -> None:
    routes = {"/good.xml": feed_route(GOOD_FEED)}
    with serve(routes_handler(routes)) as base:
        port = base.rsplit(":", 1)[1]

        async def lan_dns(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        sources = [Source("lan", "lan", f"http://feeds.lan:{port}/good.xml")]
        (refused,) = poll(sources, resolver=lan_dns, settings=_settings(()))
        (allowed,) = poll(sources, resolver=lan_dns, settings=_settings(("feeds.lan",)))
    assert refused.status == "error" and "127.0.0.1" in (refused.error or "")
    assert allowed.status == "ok" and len(allowed.entries) == 3


def _settings(allow: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(HOSTILE_SETTINGS, allow_private=allow)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "a non-public address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("::", "an unspecified address"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_forbidden_reason_names_the_address_kind(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


def test_mixed_answer_keeps_only_public_addresses() -> None:
    assert check_addresses("h", ["10.0.0.1", "93.184.216.34"], ()) == ["93.184.216.34"]
    with pytest.raises(PermanentFetchError, match=r"refused by SSRF guard: h \(10\.0\.0\.1\)"):
        check_addresses("h", ["10.0.0.1"], ())
    assert check_addresses("h", ["10.0.0.1"], ("10.0.0.0/8",)) == ["10.0.0.1"]
