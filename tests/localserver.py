"""A real HTTP server on 127.0.0.1 in a thread, for tests and benchmarks.

``serve(handler_class)`` yields the base URL; ``StaticRoutes`` serves a dict of
path -> (status, headers, body) and records every request it saw.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # clients that hang up on purpose are not test failures


@contextmanager
def serve(handler_class: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler_class`` on a free port of 127.0.0.1; yield ``http://127.0.0.1:PORT``."""
    server = QuietServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def routes_handler(
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]],
    log: list[RecordedRequest] | None = None,
) -> type[BaseHTTPRequestHandler]:
    """A handler class serving fixed routes; a callable route writes its own response."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if log is not None:
                log.append(RecordedRequest("GET", self.path, dict(self.headers.items())))
            route = routes.get(self.path) or routes.get(self.path.split("?", 1)[0])
            if route is None:
                self._send(Route(404, b"not found"))
            elif isinstance(route, Route):
                self._send(route)
            else:
                route(self)

        def _send(self, route: Route) -> None:
            self.send_response(route.status)
            headers = {"Content-Length": str(len(route.body)), **route.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(route.body)

    return Handler
