"""Continuous mode: `newswatch watch` serves the ingest flow on a Prefect interval schedule
(the session's real Prefect server schedules every run; nobody triggers one) against a local
server whose feeds change during the test: new entries are ingested by the next scheduled
run, quiet feeds are polled less, a 429 with Retry-After pushes the next poll, and SIGTERM
mid-batch finishes the batch, leaves no partial rows, and the next start resumes. Its
parameters are prefect.yaml's `watch` deployment's (one definition, `flows/watch.py`)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb
import pytest

from newswatch.commands import watch as watch_command
from newswatch.core.summaries import IngestSummary
from newswatch.flows import watch
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


def test_run_line_comes_from_the_runs_ingest_summary_artifact() -> None:
    summary = IngestSummary(
        run_id="r1", feeds_polled=4, feeds_failed=1, feeds_unchanged=2, feeds_skipped=3,
        new_entries=5, new_articles=5, on_topic_articles=2, mentions=9, stories=4,
        batches_loaded=1, batches_left=0, load_message="loaded 1 batch(es): +5 articles",
        alerts_raised=2, alerts_sent=2, alerts_failed=0, alert_errors=(),
        failed_feeds=(("x", "timeout"),), seconds=1.25,
    )  # fmt: skip
    counts, load, next_due = watch.parse_summary(summary.to_markdown())
    run = watch.FinishedRun("calm-fox", "COMPLETED", None, counts, load, next_due)
    assert run.line() == (
        "run calm-fox: 4 feeds polled (1 failed, 2 unchanged), 5 new articles, 2 alerts sent "
        "[loaded 1 batch(es): +5 articles]; a feed is due now"
    )
    noon = datetime(2026, 12, 4, 12, 0, tzinfo=UTC).astimezone()  # the watch's local time
    later = noon + timedelta(minutes=35)
    _, _, next_due = watch.parse_summary(replace(summary, next_poll_at=later).to_markdown())
    assert next_due == later.isoformat()
    assert watch.next_poll_phrase(next_due, now=noon) == f"next poll at {later:%H:%M}"
    tomorrow = (noon + timedelta(days=1)).isoformat()
    assert watch.next_poll_phrase(tomorrow, now=noon) == (
        f"next poll at {noon + timedelta(days=1):%a %H:%M}"
    )
    assert watch.next_poll_phrase(noon.isoformat(), now=later) == "a feed is due now"
    failed = replace(run, state="FAILED")
    assert failed.line().endswith("(failed); a feed is due now")
    crashed = watch.FinishedRun("sad-owl", "CRASHED", "killed", *watch.parse_summary(""))
    assert crashed.line() == "run sad-owl: crashed: killed"


def test_a_slot_the_concurrency_limit_cancelled_is_not_reported_as_a_run() -> None:
    """Under load a schedule slot comes while the previous run is still in flight; the
    deployment's limit (CANCEL_NEW) cancels it before it runs: no line, not a failed run."""
    import asyncio
    from types import SimpleNamespace
    from uuid import uuid4

    since = datetime.now(UTC) - timedelta(minutes=1)

    def flow_run(name: str, state: str, message: str | None) -> SimpleNamespace:
        return SimpleNamespace(
            id=uuid4(), name=name, start_time=datetime.now(UTC), created=datetime.now(UTC),
            state_type=SimpleNamespace(value=state), state=SimpleNamespace(message=message),
        )  # fmt: skip

    class Client:
        async def read_flow_runs(self, **_: object) -> list[SimpleNamespace]:
            return [
                flow_run("ran", "COMPLETED", None),
                flow_run("slot", "CANCELLED", "Deployment concurrency limit reached."),
                flow_run("stopped", "CANCELLED", "cancelled by the user"),
            ]

        async def read_artifacts(self, **_: object) -> list[object]:
            return []

    done, busy = asyncio.run(watch._finished_runs(Client(), uuid4(), since, set()))  # type: ignore[arg-type]
    assert [(r.name, r.state) for r in done] == [("ran", "COMPLETED"), ("stopped", "CANCELLED")]
    assert not busy


def test_a_run_the_runner_claimed_but_not_started_yet_keeps_the_watch_busy() -> None:
    """Between the runner claiming a scheduled run (PENDING) and the run starting, the run
    has no start time: a stop in that window must wait for it, not cancel it mid-poll (a
    --max-runs watch once cut a fourth run off after it had polled a feed)."""
    import asyncio
    from types import SimpleNamespace
    from uuid import uuid4

    since = datetime.now(UTC) - timedelta(minutes=1)
    earlier = since - timedelta(hours=1)

    def flow_run(state: str, start: datetime | None, created: datetime) -> SimpleNamespace:
        return SimpleNamespace(
            id=uuid4(), name=state.lower(), start_time=start, created=created,
            state_type=SimpleNamespace(value=state), state=SimpleNamespace(message=None),
        )  # fmt: skip

    def busy_with(*runs: SimpleNamespace) -> bool:
        class Client:
            async def read_flow_runs(self, **_: object) -> list[SimpleNamespace]:
                return list(runs)

            async def read_artifacts(self, **_: object) -> list[object]:
                return []

        return asyncio.run(watch._finished_runs(Client(), uuid4(), since, set()))[1]  # type: ignore[arg-type]

    now = datetime.now(UTC)
    assert busy_with(flow_run("PENDING", None, now))  # claimed by this watch's runner
    assert not busy_with(flow_run("SCHEDULED", None, now))  # waiting for its slot
    assert not busy_with(flow_run("PENDING", None, earlier))  # an earlier watch's
    assert not busy_with(flow_run("RUNNING", earlier, earlier))  # left by a killed watch
    assert busy_with(flow_run("RUNNING", now, now))


def watch_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    watch_command.register(parser.add_subparsers())
    return parser.parse_args(["watch", *argv])


def test_watch_serves_the_parameters_of_prefect_yamls_watch_deployment() -> None:
    import yaml

    from newswatch.flows.ingest import ingest

    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    [deployment] = [d for d in config["deployments"] if d["name"] == watch.WATCH_DEPLOYMENT]
    assert deployment["entrypoint"] == "flows/ingest.py:ingest"
    [schedule] = deployment["schedules"]
    assert schedule["interval"] == watch.WATCH_INTERVAL
    assert deployment["concurrency_limit"]["limit"] == 1
    documented = deployment["parameters"]
    ingest.validate_parameters(documented)
    # the one definition: prefect.yaml documents it, `newswatch watch` serves it by default
    args = watch_args()
    served = watch_command.watch_parameters(args, Path(documented["sources"]), [])
    assert {
        k: v for k, v in documented.items() if k not in {"sources", "db"}
    } == watch.WATCH_CADENCE
    assert {k: v for k, v in served.items() if k not in {"sources", "db"}} == watch.WATCH_CADENCE
    assert served["sources"] == str((Path.cwd() / documented["sources"]).resolve())
    assert (args.interval or args.min_interval) == watch.WATCH_INTERVAL
    # the options map onto the flow's parameters; --interval defaults to --min-interval
    args = watch_args("--min-interval", "2s", "--max-interval", "1h", "--batch-size", "3")
    served = watch_command.watch_parameters(args, Path("s.toml"), ["127.0.0.1"])
    assert served["max_feeds"] == 3 and served["respect_cadence"] is True
    assert (served["min_poll_interval"], served["max_poll_interval"]) == (2, 3600)
    assert served["allow_private"] == ["127.0.0.1"]
    assert args.interval is None and args.min_interval == 2.0
    assert watch_args("--interval", "45s").interval == 45.0
    assert ingest.validate_parameters(served)["max_feeds"] == 3


def subprocess_env(tmp_path: Path, api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL=api_url,  # the session's real server: its scheduler creates the runs
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


def start_watch(
    tmp_path: Path, api_url: str, sources: Path, db: Path, *extra: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "newswatch.cli", "watch", "--sources", str(sources),
        "--db", str(db), "--allow-private", "127.0.0.1", "--min-interval", "1s",
        "--max-interval", "1h", "--interval", "4s", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=subprocess_env(tmp_path, api_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_watch_ingests_new_entries_on_the_next_scheduled_run_and_polls_quiet_feeds_less(
    prefect_api: str, site: tuple[Site, str], tmp_path: Path
) -> None:
    server, base = site
    start = datetime.now(UTC)
    server.feeds["busy"] = [(f"busy-{i}", start - timedelta(seconds=2 * i)) for i in range(1, 4)]
    server.feeds["quiet"] = [(f"quiet-{i}", start - timedelta(days=10 * i)) for i in range(1, 4)]
    server.feeds["limited"] = []
    server.limited.add("limited")
    sources = write_sources(tmp_path / "sources.toml", base, ["busy", "quiet", "limited"])
    db = tmp_path / "watch.duckdb"
    process = start_watch(tmp_path, prefect_api, sources, db, "--max-runs", "3")
    lines: list[str] = []
    polls_at_publish: list[int] = []  # busy's feed requests when each fresh entry appeared
    try:
        assert process.stdout is not None
        for line in process.stdout:  # one line per finished run: publish after each
            lines.append(line)
            if line.startswith("run "):
                polls_at_publish.append(server.requests["/busy/feed.xml"])
                server.publish("busy", f"fresh-{len(lines)}")
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines)
    assert process.returncode == 0, output
    runs = [line for line in lines if line.startswith("run ")]
    assert len(runs) >= 3, output
    # each run line says when the next feed is due (busy's cadence: seconds away)
    assert all("; next poll at " in r or r.endswith("; a feed is due now\n") for r in runs), output
    assert "newswatch watch stopped: " in output and "0 failed runs" in output, output
    counts = article_count(db)
    busy_polls = server.requests["/busy/feed.xml"]
    # each fresh entry was ingested by the next run that polled busy (its cadence, ~the
    # spacing of its entries, may let one scheduled run pass), the last one by none
    polled_after = [n for n in polls_at_publish if busy_polls > n]
    assert polled_after, output
    assert counts["busy"] == 3 + len(polled_after), output
    assert counts["quiet"] == 3
    assert 2 <= busy_polls <= len(runs), output
    assert server.requests["/quiet/feed.xml"] == 1  # its cadence says: not before an hour
    assert server.requests["/limited/feed.xml"] == 1  # Retry-After: 2 h
    assert table_count(db, "runs") == len(runs)
    states = feed_states(db)
    busy, quiet, limited = states["busy"], states["quiet"], states["limited"]
    assert busy.next_poll_at and quiet.next_poll_at and busy.last_polled_at
    assert busy.next_poll_at - busy.last_polled_at < timedelta(seconds=30)
    assert quiet.next_poll_at - start >= timedelta(minutes=59)
    assert limited.consecutive_failures == 1 and limited.last_http_status == 429
    assert limited.next_poll_at and limited.next_poll_at - start >= timedelta(hours=2)


def test_sigterm_mid_batch_finishes_the_batch_and_the_next_start_resumes(
    prefect_api: str, site: tuple[Site, str], tmp_path: Path
) -> None:
    server, base = site
    start = datetime.now(UTC)
    server.feeds["wire"] = [(f"wire-{i}", start - timedelta(seconds=i)) for i in range(1, 4)]
    release = threading.Event()
    server.slow_pages["wire-2"] = release
    sources = write_sources(tmp_path / "sources.toml", base, ["wire"])
    db = tmp_path / "watch.duckdb"

    process = start_watch(tmp_path, prefect_api, sources, db)
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
    assert "newswatch watch stopped: 1 runs" in output, output
    assert "Traceback" not in output, output
    assert article_count(db) == {"wire": 3}  # the whole batch, not a part of it
    assert table_count(db, "runs") == 1
    assert not list((tmp_path / "staging").glob("2*")), "a batch was left staged"

    server.publish("wire", "wire-new")
    process = start_watch(tmp_path, prefect_api, sources, db, "--max-runs", "1")
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert article_count(db) == {"wire": 4}  # resumed: the new entry, nothing twice
    # every run is reported and recorded; a run the runner claimed as the first one ended
    # is let finish (not cut off mid-poll), so a --max-runs 1 watch may report two
    stopped = re.search(r"newswatch watch stopped: (\d+) runs", output)
    assert stopped is not None and 1 <= int(stopped.group(1)) <= 2, output
    assert table_count(db, "runs") == 1 + int(stopped.group(1)), output
