"""Flow-run states that tell the truth, and the recovery commands, against a real Prefect
server (the session harness), real HTTP servers on 127.0.0.1 and real DuckDB files.

- every polled source unreachable: the flow run ends FAILED in Prefect with the reason as
  its message, the ``ingest-summary`` artifact still exists, ``newswatch run`` exits 69;
- one source good, one bad: COMPLETED, the bad one listed in the artifact;
- the warehouse held by another process: FAILED, "batch not loaded", batch left staged;
- a feed whose server was down is backed off; once the server is back, ``sources reset``
  then ``run`` (or ``run --force`` alone) polls it at once and loads its entries.
"""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from uuid import UUID

import duckdb
import pytest

from newswatch.cli import main
from tests.localserver import QuietServer, Route, routes_handler

PAGES = (
    "articles/fundus/de/TOnline_2026_01_07.html.gz",
    "articles/fundus/ca/CBCNews_2024_08_08.html.gz",
)


def free_port() -> int:
    """A port nothing listens on (bound, then closed): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_routes(corpus_dir: Path, base: str) -> dict[str, Route]:
    """A feed of two real corpus pages, with those pages, as served from ``base``."""
    routes: dict[str, Route] = {}
    items = []
    now = datetime.now(UTC)
    for i, rel in enumerate(PAGES):
        name = Path(rel).name.removesuffix(".html.gz")
        html = gzip.decompress((corpus_dir / rel).read_bytes())
        routes[f"/{name}.html"] = Route(200, html, {"Content-Type": "text/html; charset=utf-8"})
        items.append(
            f"<item><title>{name}</title><link>{base}/{name}.html</link>"
            f"<guid>{base}/{name}.html</guid>"
            f"<pubDate>{format_datetime(now - timedelta(hours=i + 1))}</pubDate></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>site</title>'
        f"<link>{base}/</link>{''.join(items)}</channel></rss>"
    ).encode()
    routes["/feed.xml"] = Route(200, feed, {"Content-Type": "application/rss+xml"})
    return routes


@contextmanager
def serve_on(port: int, routes: dict[str, Route]) -> Iterator[str]:
    """The site on a given port: the server that was down comes back where it was."""
    server = QuietServer(("127.0.0.1", port), routes_handler(routes))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_sources(path: Path, feeds: dict[str, str]) -> Path:
    lines = [
        f'[[source]]\nid = "{sid}"\nname = "{sid}"\nurl = "{url}"\n' for sid, url in feeds.items()
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def latest_flow_run():  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    assert runs, "no flow run recorded"
    return runs[0]


def flow_run(run_id: UUID):  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def summary_artifact(run_id: UUID) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["ingest-summary"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    assert len(artifacts) == 1, artifacts
    return str(artifacts[0].data)


def articles_of(db: Path, source_id: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM articles WHERE source_id = ?", [source_id])
        found = row.fetchone()
    assert found is not None
    return int(found[0])


def failures_of(db: Path, source_id: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT consecutive_failures FROM feed_state WHERE source_id = ?", [source_id]
        ).fetchone()
    assert row is not None
    return int(row[0])


def run_cli(sources: Path, db: Path, *extra: str) -> int:
    return main(
        ["run", "--sources", str(sources), "--db", str(db), "--allow-private", "127.0.0.1", *extra]
    )


def test_every_source_unreachable_is_failed_in_prefect_with_the_reason(
    prefect_harness: None, tmp_path: Path
) -> None:
    from newswatch.flows.ingest import IngestFailed, ingest

    sources = write_sources(
        tmp_path / "sources.toml",
        {
            "refused-a": f"http://127.0.0.1:{free_port()}/feed.xml",
            "refused-b": f"http://127.0.0.1:{free_port()}/feed.xml",
        },
    )
    db = tmp_path / "news.duckdb"
    state = ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"], return_state=True)

    assert state.is_failed()
    stored = flow_run(state.state_details.flow_run_id)
    assert stored.state is not None and stored.state.type.value == "FAILED"
    message = stored.state.message or ""
    assert message.startswith("every polled source failed (2 of 2): ")
    assert "refused-a: connection failed" in message and "refused-b" in message
    artifact = summary_artifact(state.state_details.flow_run_id)
    assert "## Failed feeds" in artifact and "`refused-a`" in artifact
    # the run still recorded the failures (the feeds are backed off) and loaded its batch
    assert failures_of(db, "refused-a") == 1
    # an in-process caller gets the reason and the summary
    failed = state.result(raise_on_failure=False)
    assert isinstance(failed, IngestFailed)
    assert failed.summary.feeds_failed == failed.summary.feeds_polled == 2
    assert failed.summary.batches_left == 0


def test_one_good_and_one_bad_source_completes_listing_the_failure(
    prefect_harness: None, tmp_path: Path, corpus_dir: Path
) -> None:
    from newswatch.flows.ingest import ingest

    port = free_port()
    with serve_on(port, site_routes(corpus_dir, f"http://127.0.0.1:{port}")) as base:
        sources = write_sources(
            tmp_path / "sources.toml",
            {"good": f"{base}/feed.xml", "bad": f"http://127.0.0.1:{free_port()}/feed.xml"},
        )
        db = tmp_path / "news.duckdb"
        state = ingest(
            sources=str(sources), db=str(db), allow_private=["127.0.0.1"], return_state=True
        )

    assert state.is_completed()
    stored = flow_run(state.state_details.flow_run_id)
    assert stored.state is not None and stored.state.type.value == "COMPLETED"
    summary = state.result()
    assert summary.feeds_polled == 2 and dict(summary.failed_feeds).keys() == {"bad"}
    assert "`bad`: connection failed" in summary_artifact(state.state_details.flow_run_id)
    assert articles_of(db, "good") == len(PAGES)


def test_cli_exit_code_69_and_failed_state_when_no_source_answers(
    prefect_harness: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = write_sources(
        tmp_path / "sources.toml", {"dead": f"http://127.0.0.1:{free_port()}/feed.xml"}
    )
    assert run_cli(sources, tmp_path / "news.duckdb") == 69
    out = capsys.readouterr().out
    assert "sources reachable 0/1: every source failed (exit 69)" in out
    assert "failed feed       dead: connection failed" in out
    latest = latest_flow_run()
    assert latest.state.type.value == "FAILED"
    assert latest.state.message.startswith("every polled source failed (1 of 1): dead:")


@pytest.mark.slow
def test_a_held_warehouse_is_failed_in_prefect_and_leaves_the_batch_staged(
    prefect_harness: None, tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.flows.ingest import ingest
    from newswatch.warehouse.staging import staged_batches

    monkeypatch.setenv("NEWSWATCH_DB_LOCK_WAIT", "2")  # the load gives up after 2 s, not 30

    db = tmp_path / "news.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(600)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        port = free_port()
        with serve_on(port, site_routes(corpus_dir, f"http://127.0.0.1:{port}")) as base:
            sources = write_sources(tmp_path / "sources.toml", {"good": f"{base}/feed.xml"})
            state = ingest(
                sources=str(sources), db=str(db), allow_private=["127.0.0.1"], return_state=True
            )
    finally:
        holder.kill()
        holder.wait()

    assert state.is_failed()
    stored = flow_run(state.state_details.flow_run_id)
    assert stored.state is not None and stored.state.type.value == "FAILED"
    message = stored.state.message or ""
    assert message.startswith("batch not loaded: 1 batch(es) left staged")
    assert f"PID {holder.pid}" in message
    assert "Load:" in summary_artifact(state.state_details.flow_run_id)
    assert len(staged_batches(tmp_path / "staging")) == 1


def test_a_backed_off_feed_is_polled_at_once_after_sources_reset(
    prefect_harness: None, tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sources = write_sources(tmp_path / "sources.toml", {"flaky": f"{base}/feed.xml"})
    db = tmp_path / "news.duckdb"

    assert run_cli(sources, db) == 69  # its server is down: the feed fails once
    assert failures_of(db, "flaky") == 1
    with serve_on(port, site_routes(corpus_dir, base)):
        assert run_cli(sources, db) == 0  # back up, but the feed is still backing off
        assert "feeds polled      0  (failed 0, unchanged 0, backing off 1)" in (
            capsys.readouterr().out
        )
        assert latest_flow_run().state.type.value == "COMPLETED"  # nothing due is no failure
        assert articles_of(db, "flaky") == 0

        assert main(["sources", "reset", "flaky", "--db", str(db)]) == 0
        assert "flaky  was backing off after 1 failure(s)" in capsys.readouterr().out

        assert run_cli(sources, db) == 0
    out = capsys.readouterr().out
    assert "feeds polled      1  (failed 0, unchanged 0, backing off 0)" in out
    assert articles_of(db, "flaky") == len(PAGES)
    assert failures_of(db, "flaky") == 0


def test_run_force_polls_a_backed_off_feed_without_a_reset(
    prefect_harness: None, tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sources = write_sources(tmp_path / "sources.toml", {"flaky": f"{base}/feed.xml"})
    db = tmp_path / "news.duckdb"

    assert run_cli(sources, db) == 69
    capsys.readouterr()
    with serve_on(port, site_routes(corpus_dir, base)):
        assert run_cli(sources, db, "--force") == 0
    assert "feeds polled      1  (failed 0, unchanged 0, backing off 0)" in capsys.readouterr().out
    assert articles_of(db, "flaky") == len(PAGES)
    assert failures_of(db, "flaky") == 0
