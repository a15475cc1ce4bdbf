"""Serve the bundled offline sample (seeds/sample/site) on a free 127.0.0.1 port.

The sample's feeds and pages write ``{{BASE}}`` where a real site would have its scheme and
host; the server substitutes ``http://127.0.0.1:PORT`` in every text file it serves, so the
feeds' absolute links point back at it.
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newswatch.core.settings import SAMPLE_DIR

PLACEHOLDER = "{{BASE}}"
# A stable port keeps the sample's URLs (and so its article ids) the same from run to run.
# When it is taken, any free port is used: the pages then have new URLs, and content
# identity (extractors/identity.py: the same body from the same source) records them as
# aliases of the stored articles instead of new rows (tests/test_identity_e2e.py).
DEFAULT_PORT = 8765
TEXT_SUFFIXES = {".xml", ".html", ".htm", ".txt", ".rss", ".atom", ".json"}
CONTENT_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


def _handler_for(root: Path, base: list[str]) -> type[BaseHTTPRequestHandler]:
    root = root.resolve()

    class SampleHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "newswatch-sample/1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(send_body=False)

        def do_GET(self) -> None:
            self._serve(send_body=True)

        def _serve(self, *, send_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            target = (root / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root) or not target.is_file():
                self._respond(404, b"not found\n", "text/plain; charset=utf-8", send_body)
                return
            body = target.read_bytes()
            if target.suffix in TEXT_SUFFIXES:
                body = body.replace(PLACEHOLDER.encode(), base[0].encode())
            content_type = CONTENT_TYPES.get(target.suffix) or (
                mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            )
            self._respond(200, body, content_type, send_body)

        def _respond(self, status: int, body: bytes, content_type: str, send_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return SampleHandler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a just-closed sample server's port is free again at once

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass


def _bind(handler: type[BaseHTTPRequestHandler], port: int) -> _Server:
    try:
        return _Server(("127.0.0.1", port), handler)
    except OSError:  # taken: any free port will do
        return _Server(("127.0.0.1", 0), handler)


@contextmanager
def serve_sample(site_dir: Path | None = None, port: int = DEFAULT_PORT) -> Iterator[str]:
    """Serve ``site_dir`` (default: the bundled sample) and yield its base URL.

    ``port`` is tried first (0 = any free port); if it is taken a free port is used.
    """
    site_dir = site_dir or SAMPLE_DIR / "site"
    if not site_dir.is_dir():
        raise FileNotFoundError(f"sample site not found: {site_dir}")
    base: list[str] = [""]
    server = _bind(_handler_for(site_dir, base), port)
    base[0] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield base[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_sample_sources(base_url: str, out_path: Path, sources_file: Path | None = None) -> Path:
    """Write the sample's sources.toml with ``{{BASE}}`` resolved to ``base_url``."""
    sources_file = sources_file or SAMPLE_DIR / "sources.toml"
    text = sources_file.read_text(encoding="utf-8").replace(PLACEHOLDER, base_url)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text, encoding="utf-8")
    return out_path


def sources_for_run(
    stack: ExitStack, *, sample: bool, sources: Path | None, default: Path, data_dir: Path
) -> tuple[Path, list[str]]:
    """The sources file a command should use and the extra private hosts it needs.

    With ``sample``, the bundled sample is served for as long as ``stack`` is open and its
    sources file (``{{BASE}}`` resolved) is written under ``data_dir``; ``sources`` still wins.
    """
    if not sample:
        return sources or default, []
    base_url = stack.enter_context(serve_sample())
    print(f"Serving the offline sample at {base_url}", flush=True)
    resolved = sources or write_sample_sources(base_url, data_dir / "sample-sources.toml")
    return resolved, ["127.0.0.1"]
