"""SSRF guard: refuse URLs whose host resolves to a non-public address.

The fetcher resolves a host once with :func:`resolve_checked`, refuses it when any address
is loopback, private, link-local, multicast, reserved, unspecified or shared (100.64/10),
IPv4 and IPv6 alike (IPv4-mapped IPv6 is judged by its IPv4 address), and then connects to
the *checked* address (``newswatch.extractors.transport``), so a second DNS answer cannot
rebind the request to an internal address. Hosts or addresses listed in ``allow_private``
pass (tests and the offline sample allow ``127.0.0.1``); an entry may also be a network in
CIDR form.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence

from newswatch.core.errors import PermanentFetchError, TransientFetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (host, port) -> addresses as strings; injectable so tests can fake a DNS answer.
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with getaddrinfo in a worker thread; every address, in order."""
    infos = await asyncio.to_thread(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)
    return list(seen)


LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$", re.I)


def parse_ip(text: str) -> IPAddress | None:
    """The address ``text`` denotes, or None for a name (brackets around IPv6 allowed).

    Legacy IPv4 spellings that resolvers accept (``2130706433``, ``0x7f.1``, ``127.1``)
    count as addresses too, so they never depend on a DNS answer.
    """
    text = text.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if LEGACY_IPV4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_reason(address.ipv4_mapped)
    checks = (
        (address.is_unspecified, "an unspecified"),
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_private, "a private"),
        (address.is_reserved, "a reserved"),
    )
    for failed, kind in checks:
        if failed:
            return f"{kind} address"
    if not address.is_global:
        return "a non-public address"
    return None


def is_allowed(host: str, address: IPAddress, allow_private: Sequence[str]) -> bool:
    """True when the host name, the address or a network containing it is allow-listed."""
    host = host.strip("[]").lower()
    candidates = {address}
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.add(address.ipv4_mapped)
    for entry in allow_private:
        entry = entry.strip().strip("[]").lower()
        if not entry:
            continue
        if entry == host:
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if any(candidate in network for candidate in candidates):
            return True
    return False


ALLOW_OPTION = "--allow-private"
ALLOW_ENV = "NEWSWATCH_ALLOW_PRIVATE"


def allow_hint(host: str) -> str:
    """How a user allows ``host``: the option and the variable, both named."""
    return f"allow it with {ALLOW_OPTION} {host} or {ALLOW_ENV}={host}"


def check_addresses(host: str, addresses: Sequence[str], allow_private: Sequence[str]) -> list[str]:
    """The addresses of ``host`` that may be connected to, in order; raise if there are none.

    Forbidden addresses are dropped, never dialled: a name resolving to a public and a
    private address only ever reaches the public one.
    """
    if not addresses:
        raise TransientFetchError(f"DNS lookup failed: {host}: no address")
    usable: list[str] = []
    refusals: list[str] = []
    name = host.strip("[]")
    for text in addresses:
        address = parse_ip(text)
        if address is None:
            refusals.append(f"{text!r} is not an address")
            continue
        reason = forbidden_reason(address)
        if reason and not is_allowed(host, address, allow_private):
            shown = host if host.strip("[]") == str(address) else f"{host} ({address})"
            refusals.append(f"{shown} is {reason} ({allow_hint(name)})")
            continue
        usable.append(str(address))
    if not usable:
        raise PermanentFetchError(f"refused by SSRF guard: {refusals[0]}")
    return usable


async def resolve_checked(
    host: str,
    port: int,
    allow_private: Sequence[str],
    resolver: Resolver = system_resolver,
) -> list[str]:
    """Resolve ``host`` and return the addresses that are safe to connect to, else raise.

    Raises ``TransientFetchError`` ("DNS lookup failed: …") when the name does not resolve
    and ``PermanentFetchError`` ("refused by SSRF guard: …") for a forbidden address.
    """
    literal = parse_ip(host)
    if literal is not None:
        return check_addresses(host, [str(literal)], allow_private)
    try:
        addresses = await resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise TransientFetchError(f"DNS lookup failed: {host}: {_dns_reason(exc)}") from exc
    return check_addresses(host, addresses, allow_private)


def _dns_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.args[1:]:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__
