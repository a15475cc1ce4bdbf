"""Continuous mode against a local server whose feeds change during the test: new entries
are ingested on the next due tick, quiet feeds are polled less, a 429 with Retry-After
pushes the next poll, and SIGTERM mid-batch leaves no partial rows (subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb
import pytest

from newswatch.core.summaries import IngestSummary
from newswatch.flows.watch import StopFlag, WatchOptions, seconds_until, watch
from newswatch.warehouse.queries import feed_states
from tests.localserver import serve

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAGRAPH = (
    "Iranian-designed Shahed drones assembled as Geran-2 at the Alabuga special economic zone "
    "in Tatarstan were launched against Ukrainian energy sites overnight, officials said. "
    "Analysts tracking Russia-Iran military cooperation expect production to keep growing "
    "under the comprehensive strategic partnership treaty signed in 2025. "
)


@dataclass
class Site:
    """Feeds whose entries the test adds while the watcher runs; records every request."""

    feeds: dict[str, list[tuple[str, datetime]]] = field(default_factory=dict)
    limited: set[str] = field(default_factory=set)  # feeds answering 429 Retry-After 7200
    slow_pages: dict[str, threading.Event] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    page_requested: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, feed: str, slug: str, when: datetime | None = None) -> None:
        with self.lock:
            self.feeds[feed].insert(0, (slug, when or datetime.now(UTC)))

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.requests[path] += 1
                parts = path.strip("/").split("/")
                if len(parts) == 2 and parts[1] == "feed.xml" and parts[0] in site.feeds:
                    self._feed(parts[0])
                elif len(parts) == 2 and parts[1].endswith(".html"):
                    self._page(parts[0], parts[1].removesuffix(".html"))
                else:
                    self._send(404, b"not found", "text/plain")

            def _feed(self, name: str) -> None:
                if name in site.limited:
                    self._send(429, b"slow down", "text/plain", {"Retry-After": "7200"})
                    return
                base = f"http://{self.headers['Host']}"
                with site.lock:
                    items = "".join(
                        f"<item><title>{escape(slug)}</title>"
                        f"<link>{base}/{name}/{slug}.html</link><guid>{name}-{slug}</guid>"
                        f"<pubDate>{format_datetime(when)}</pubDate></item>"
                        for slug, when in site.feeds[name]
                    )
                body = (
                    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>{name}</title><link>{base}/</link>{items}</channel></rss>"
                ).encode()
                self._send(200, body, "application/rss+xml")

            def _page(self, name: str, slug: str) -> None:
                site.page_requested.set()
                gate = site.slow_pages.get(slug)
                if gate is not None:
                    gate.wait(timeout=30)
                body = (
                    f"<html><head><title>{slug} ({name})</title></head><body><article>"
                    f"<h1>{slug}: drones from Alabuga</h1>"
                    + "".join(f"<p>{PARAGRAPH} Report {slug}, part {i}.</p>" for i in range(6))
                    + "</article></body></html>"
                ).encode()
                self._send(200, body, "text/html; charset=utf-8")

            def _send(
                self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def write_sources(path: Path, base: str, names: list[str]) -> Path:
    path.write_text(
        "".join(
            f'[[source]]\nid = "{n}"\nname = "{n}"\nurl = "{base}/{n}/feed.xml"\n\n' for n in names
        )
    )
    return path


def article_count(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT source_id, count(*) FROM articles GROUP BY 1").fetchall()
    return dict(rows)


def table_count(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # fixed table names
    return int(row[0]) if row else 0


@pytest.fixture()
def site() -> Iterator[tuple[Site, str]]:
    site = Site()
    with serve(site.handler()) as base:
        yield site, base


def test_next_sleep_is_bounded() -> None:
    now = datetime.now(UTC)
    assert seconds_until(None, now, 60) == 0.05
    assert seconds_until(now + timedelta(hours=1), now, 60) == 60
    assert seconds_until(now + timedelta(seconds=3), now, 60) == 3
    assert seconds_until(now - timedelta(seconds=3), now, 60) == 0.05


def test_watch_ingests_new_entries_on_the_next_due_tick_and_polls_quiet_feeds_less(
    prefect_harness: None, site: tuple[Site, str], tmp_path: Path
) -> None:
    server, base = site
    start = datetime.now(UTC)
    server.feeds["busy"] = [(f"busy-{i}", start - timedelta(seconds=2 * i)) for i in range(1, 4)]
    server.feeds["quiet"] = [(f"quiet-{i}", start - timedelta(days=10 * i)) for i in range(1, 4)]
    server.feeds["limited"] = []
    server.limited.add("limited")
    sources = write_sources(tmp_path / "sources.toml", base, ["busy", "quiet", "limited"])
    db = tmp_path / "watch.duckdb"
    options = WatchOptions(
        sources=str(sources),
        db=str(db),
        allow_private=("127.0.0.1",),
        min_interval=1.0,
        max_interval=3600.0,
        max_sleep=2.0,
        max_runs=3,
    )

    def publish_after_run(summary: IngestSummary) -> None:
        server.publish("busy", f"fresh-{summary.run_id}")

    report = watch(options, StopFlag(), on_run=publish_after_run)

    assert report.runs == 3 and report.failed_runs == 0
    counts = article_count(db)
    assert counts["busy"] == 3 + 2  # the first two fresh entries, each on the next tick
    assert counts["quiet"] == 3
    assert server.requests["/busy/feed.xml"] == 3
    assert server.requests["/quiet/feed.xml"] == 1  # its cadence says: not before an hour
    assert server.requests["/limited/feed.xml"] == 1  # Retry-After: 2 h
    states = feed_states(db)
    busy, quiet, limited = states["busy"], states["quiet"], states["limited"]
    assert busy.next_poll_at and quiet.next_poll_at and busy.last_polled_at
    assert busy.next_poll_at - busy.last_polled_at < timedelta(seconds=30)
    assert quiet.next_poll_at - start >= timedelta(minutes=59)
    assert limited.consecutive_failures == 1 and limited.last_http_status == 429
    assert limited.next_poll_at and limited.next_poll_at - start >= timedelta(hours=2)


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONPATH=str(REPO_ROOT),
    )
    api_url = PREFECT_API_URL.value()
    if api_url:  # share the harness's server: no second server start in the subprocess
        env["PREFECT_API_URL"] = api_url
    return env


def start_watch(tmp_path: Path, sources: Path, db: Path, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "newswatch.cli", "watch", "--sources", str(sources),
        "--db", str(db), "--allow-private", "127.0.0.1", "--min-interval", "1s",
        "--max-interval", "1h", "--max-sleep", "1s", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_mid_batch_finishes_the_batch_and_the_next_start_resumes(
    prefect_harness: None, site: tuple[Site, str], tmp_path: Path
) -> None:
    server, base = site
    start = datetime.now(UTC)
    server.feeds["wire"] = [(f"wire-{i}", start - timedelta(seconds=i)) for i in range(1, 4)]
    release = threading.Event()
    server.slow_pages["wire-2"] = release
    sources = write_sources(tmp_path / "sources.toml", base, ["wire"])
    db = tmp_path / "watch.duckdb"

    process = start_watch(tmp_path, sources, db)
    try:
        assert server.page_requested.wait(timeout=120), "the watcher never fetched a page"
        process.send_signal(signal.SIGTERM)  # mid-batch: one page is still being served
        time.sleep(1.0)
        release.set()
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopping after the current batch" in output or "stopped" in output
    assert article_count(db) == {"wire": 3}  # the whole batch, not a part of it
    assert table_count(db, "runs") == 1
    assert not list((tmp_path / "staging").glob("2*")), "a batch was left staged"

    server.publish("wire", "wire-new")
    process = start_watch(tmp_path, sources, db, "--max-runs", "1")
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert article_count(db) == {"wire": 4}  # resumed: the new entry, nothing twice
    assert table_count(db, "runs") == 2


def test_watch_deployment_runs_the_ingest_with_its_cadence_on_an_interval() -> None:
    import yaml

    from newswatch.flows.ingest import ingest

    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    [deployment] = [d for d in config["deployments"] if d["name"] == "watch"]
    assert deployment["entrypoint"] == "flows/ingest.py:ingest"
    [schedule] = deployment["schedules"]
    assert schedule["interval"] == 300
    parameters = deployment["parameters"]
    assert parameters["respect_cadence"] is True
    validated = ingest.validate_parameters(parameters)
    assert validated["min_poll_interval"] == 300 and validated["max_feeds"] == 10
    assert deployment["concurrency_limit"]["limit"] == 1
