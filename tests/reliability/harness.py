"""Run the real ingest in a subprocess and fingerprint what it stored.

Every run goes through ``python -m tests.reliability.crashable run ...`` (the real CLI plus
crash points, see crashable.py) against one shared Prefect server, so a run costs seconds,
not the ~30 s start of an ephemeral server.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb

from newswatch.core.settings import REPO_ROOT
from newswatch.sample import write_sample_sources
from tests.localserver import Route, routes_handler, serve

CORPUS_PAGES = (
    "articles/fundus/de/TOnline_2026_01_07.html.gz",
    "articles/fundus/de/NTV_2025_12_12.html.gz",
    "articles/fundus/ca/CBCNews_2024_08_08.html.gz",
)
UNREACHABLE_SOURCE = "unreachable-wire"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(prefect_home: Path, api_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NEWSWATCH_", "PREFECT_")) or k == "NEWSWATCH_SHARED_DIR"
    }
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONPATH=str(REPO_ROOT),
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real ``prefect server start`` of its own (tests/prefect_server.py); yields its API
    URL. For a test that kills its server; the others share the session's (``prefect_api``)."""
    from tests.prefect_server import prefect_server as own_server

    with own_server(home) as server:
        yield server.api_url


def corpus_feed(base: str, names: list[str]) -> bytes:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{escape(name)}</title><link>{base}/corpus/{name}.html</link>"
        f"<guid>{base}/corpus/{name}.html</guid>"
        f"<pubDate>{format_datetime(now - timedelta(days=i))}</pubDate></item>"
        for i, name in enumerate(names)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>corpus</title><link>{base}/</link>{items}</channel></rss>"
    ).encode()


@contextmanager
def corpus_site(corpus_dir: Path) -> Iterator[str]:
    routes: dict[str, Route] = {}
    names = []
    for rel in CORPUS_PAGES:
        name = Path(rel).name.removesuffix(".html.gz")
        names.append(name)
        html = gzip.decompress((corpus_dir / rel).read_bytes())
        routes[f"/corpus/{name}.html"] = Route(
            200, html, {"Content-Type": "text/html; charset=utf-8"}
        )
    with serve(routes_handler(routes)) as base:
        routes["/corpus/feed.xml"] = Route(
            200, corpus_feed(base, names), {"Content-Type": "application/rss+xml"}
        )
        yield base


def write_sources(path: Path, sample_base: str, corpus_base: str) -> Path:
    """The sample's sources (minus its deliberately unreachable feed) plus the corpus feed."""
    write_sample_sources(sample_base, path)
    blocks = path.read_text(encoding="utf-8").split("[[source]]")
    kept = [b for b in blocks if f'id = "{UNREACHABLE_SOURCE}"' not in b]
    text = "[[source]]".join(kept).rstrip() + "\n"
    text += (
        f'\n[[source]]\nid = "corpus"\nname = "Corpus pages"\n'
        f'url = "{corpus_base}/corpus/feed.xml"\nlanguage = "de"\nkind = "rss"\n'
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    trace: list[tuple[str, int, float]]
    seconds: float

    @property
    def last_point(self) -> str:
        return self.trace[-1][0] if self.trace else "before-start"

    def points(self) -> set[str]:
        return {name for name, _, _ in self.trace}


def ingest_command(workdir: Path, sources: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.reliability.crashable",
        "run",
        "--sources",
        str(sources),
        "--db",
        str(workdir / "news.duckdb"),
        "--allow-private",
        "127.0.0.1",
        "--alerts-to",
        f"file://{workdir / 'alerts.jsonl'}",
        "--quiet",
        *extra,
    ]


def read_trace(path: Path) -> list[tuple[str, int, float]]:
    points = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, hit, at = line.split()
            points.append((name, int(hit), float(at)))
    return points


def start_ingest(
    workdir: Path,
    sources: Path,
    env: dict[str, str],
    *,
    crash_at: str | None = None,
    crash_after: float | None = None,
    extra: tuple[str, ...] = (),
    tag: str = "",
) -> subprocess.Popen[bytes]:
    """Start one ``newswatch run`` on ``workdir/news.duckdb``; trace in workdir/trace.txt.

    Output goes to files, not pipes: a process left behind by a killed run must not be able
    to hold the test up by keeping a pipe open.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    trace = workdir / "trace.txt"
    trace.unlink(missing_ok=True)
    run_env = dict(env, NEWSWATCH_CRASH_TRACE=str(trace))
    if crash_at:
        run_env["NEWSWATCH_CRASH_AT"] = crash_at
    if crash_after is not None:
        run_env["NEWSWATCH_CRASH_AFTER"] = f"{crash_after:.3f}"
    out_path, err_path = workdir / f"stdout{tag}.txt", workdir / f"stderr{tag}.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        return subprocess.Popen(
            ingest_command(workdir, sources, extra),
            env=run_env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=err,
        )


def wait_for_point(workdir: Path, name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Block until the run reaches crash point ``name`` (or fail if it ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(point == name for point, _, _ in read_trace(workdir / "trace.txt")):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {name}: {read_text(workdir / 'stderr.txt')}")
        time.sleep(0.05)
    raise AssertionError(f"run did not reach {name} within {timeout} s")


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def finish(
    proc: subprocess.Popen[bytes], workdir: Path, started: float, timeout: float, tag: str = ""
) -> RunResult:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return RunResult(
        proc.returncode,
        read_text(workdir / f"stdout{tag}.txt"),
        read_text(workdir / f"stderr{tag}.txt"),
        read_trace(workdir / "trace.txt"),
        time.monotonic() - started,
    )


def survivors(workdir: Path) -> list[int]:
    """Processes still alive that a run on ``workdir`` started (found by their environment)."""
    marker = f"NEWSWATCH_CRASH_TRACE={workdir / 'trace.txt'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def run_ingest(
    workdir: Path,
    sources: Path,
    env: dict[str, str],
    *,
    crash_at: str | None = None,
    crash_after: float | None = None,
    extra: tuple[str, ...] = (),
    timeout: float = 300,
    tag: str = "",
) -> RunResult:
    """One ``newswatch run`` in a subprocess, to its end (or its crash point)."""
    started = time.monotonic()
    proc = start_ingest(
        workdir, sources, env, crash_at=crash_at, crash_after=crash_after, extra=extra, tag=tag
    )
    return finish(proc, workdir, started, timeout, tag)


# What a run stores, without what legitimately differs between runs (times, run ids).
FINGERPRINT_QUERIES = {
    "articles": "SELECT article_id, canonical_url, content_hash, title, status, story_id, "
    "relevance, on_topic FROM articles ORDER BY ALL",
    "mentions": "SELECT article_id, entity_id, count, first_offset FROM mentions ORDER BY ALL",
    "entity_daily": "SELECT * FROM entity_daily ORDER BY ALL",
    "alerts": "SELECT alert_id, rule, story_id, channel, status FROM alerts ORDER BY ALL",
}


@dataclass(frozen=True)
class Fingerprint:
    rows: dict[str, int]
    hashes: dict[str, str]
    duplicate_articles: int
    duplicate_alert_keys: int


def fingerprint(db: Path) -> Fingerprint:
    """Row counts and content hashes per table; raises if the database does not open."""
    rows: dict[str, int] = {}
    hashes: dict[str, str] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table, sql in FINGERPRINT_QUERIES.items():
            data = con.execute(sql).fetchall()
            rows[table] = len(data)
            hashes[table] = hashlib.sha256(repr(data).encode()).hexdigest()[:16]
        dup_articles = con.execute(
            "SELECT count(*) - count(DISTINCT canonical_url) FROM articles"
        ).fetchone()
        dup_alerts = con.execute(
            "SELECT count(*) FROM (SELECT rule, story_id, channel FROM alerts "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
    return Fingerprint(
        rows,
        hashes,
        int(dup_articles[0]) if dup_articles else 0,
        int(dup_alerts[0]) if dup_alerts else 0,
    )


def alert_deliveries(path: Path) -> Counter[str]:
    """How many times each alert id reached the file channel (digests counted per alert)."""
    counts: Counter[str] = Counter()
    if not path.exists():
        return counts
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        for payload in data.get("digest") or [data]:
            counts[str(payload.get("alert_id") or data["id"])] += 1
    return counts
