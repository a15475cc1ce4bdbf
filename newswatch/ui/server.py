"""Where ``newswatch ui`` listens: the socket is bound here (so ``--port 0`` can report the
port the system picked), then uvicorn serves the application on it until SIGINT/SIGTERM.

Loopback addresses only by default; any other address serves the warehouse, unauthenticated,
to whoever can reach it, so the command warns (``exposure_warning``). On a loopback address
the ``Host`` header must name it (``allowed_hosts``), which keeps a web page from reading the
view through a DNS name rebound to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import uvicorn
from starlette.types import ASGIApp

from newswatch.core.errors import NewswatchError

LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def resolved_addresses(host: str) -> list[str]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NewswatchError(f"cannot resolve --host {host!r}: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def is_loopback(host: str) -> bool:
    addresses = resolved_addresses(host)
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def exposure_warning(host: str, port: int) -> str | None:
    """The warning a non-loopback ``host`` earns (None for a loopback one)."""
    if is_loopback(host):
        return None
    return (
        f"newswatch: warning: --host {host} is not a loopback address: anyone who can reach "
        f"this machine on port {port} can read the whole warehouse (no login, no TLS)"
    )


def allowed_hosts(host: str) -> list[str] | None:
    """``Host`` header names accepted: the loopback names and ``host`` itself when it is a
    loopback IPv4 address or name; None (no check) for other and IPv6 addresses."""
    if ":" in host or not is_loopback(host):
        return None
    return sorted({*LOOPBACK_NAMES, host})


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port)."""
    try:
        family = socket.AF_INET6 if ":" in resolved_addresses(host)[0] else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=64)
    except OSError as exc:
        raise NewswatchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGINT or SIGTERM (uvicorn's handlers finish the
    requests in flight, then re-raise the signal: SIGINT, the usual way to stop it, returns
    here; SIGTERM ends the process as the signal does)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
