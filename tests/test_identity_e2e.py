"""Identity that survives URL changes, and error pages fetched again: real sample and
corpus pages over HTTP on loopback, real Prefect flow runs, a real DuckDB file.

- the sample served on two ports one after the other leaves 53 articles, not 106;
- an outlet that moves host (127.0.0.1 -> 127.0.0.2) and URL scheme adds aliases only;
- a feed of 404 pages leaves 0 articles and N failed fetches, not refetched before due;
- a page that answers 404 first and 200 later is stored on a later run, from the stored
  feed entry even though its feed no longer lists it.
"""

from __future__ import annotations

import gzip
import re
import threading
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb
import pytest

from newswatch.core.settings import SAMPLE_DIR
from newswatch.core.summaries import IngestSummary
from newswatch.extractors import page_retry
from newswatch.sample import PLACEHOLDER, serve_sample, write_sample_sources
from tests.localserver import QuietServer, RecordedRequest, Route, routes_handler, serve

EXPECTED = tomllib.loads((SAMPLE_DIR / "EXPECTED.toml").read_text(encoding="utf-8"))
PAGES = EXPECTED["totals"]["pages"]
ORIGINAL, SYNDICATED = EXPECTED["oddities"]["syndicated_pairs"][0]
LOOPBACK = ["127.0.0.0/8"]
CORPUS_PAGE = "articles/fundus/de/TOnline_2026_01_07.html.gz"


def one(db: Path, sql: str, params: list[object] | None = None) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(sql, params or []).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Counts:
    articles: int
    mentions: int
    alerts: int
    deliveries: int
    aliases: int


def counts(db: Path) -> Counts:
    deliveries = db.parent / "alerts.jsonl"  # the default rules' file channel
    lines = deliveries.read_text(encoding="utf-8").splitlines() if deliveries.exists() else []
    return Counts(
        articles=one(db, "select count(*) from articles"),
        mentions=one(db, "select count(*) from mentions"),
        alerts=one(db, "select count(*) from alerts"),
        deliveries=len(lines),
        aliases=one(db, "select count(*) from article_aliases"),
    )


def run_ingest(sources: Path, db: Path) -> IngestSummary:
    from newswatch.flows.ingest import ingest

    summary = ingest(sources=str(sources), db=str(db), allow_private=LOOPBACK)
    return summary


# ---------------------------------------------------------------- the sample on two ports


@dataclass
class TwoPorts:
    db: Path
    bases: tuple[str, str]
    after: list[Counts] = field(default_factory=list)
    summaries: list[IngestSummary] = field(default_factory=list)


@pytest.fixture(scope="module")
def two_ports(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> TwoPorts:
    tmp = tmp_path_factory.mktemp("two-ports")
    db = tmp / "news.duckdb"
    with ExitStack() as first, ExitStack() as second:
        base_a = first.enter_context(serve_sample(port=0))
        summary = run_ingest(write_sample_sources(base_a, tmp / "a.toml"), db)
        state = TwoPorts(db, (base_a, ""), [counts(db)], [summary])
        base_b = second.enter_context(serve_sample(port=0))  # A still open: another port
        first.close()
        state.bases = (base_a, base_b)
        for _ in range(2):  # the move, then a later poll of the new address
            state.summaries.append(run_ingest(write_sample_sources(base_b, tmp / "b.toml"), db))
            state.after.append(counts(db))
    return state


def test_the_sample_on_two_ports_leaves_53_articles_not_106(two_ports: TwoPorts) -> None:
    first, moved, later = two_ports.after
    assert two_ports.bases[0] != two_ports.bases[1]
    assert first.articles == PAGES == 53
    assert moved.articles == PAGES and later.articles == PAGES
    assert moved.mentions == first.mentions > 0
    assert two_ports.summaries[1].new_articles == 0
    assert moved.aliases == PAGES  # every page of the second port, recorded as an alias
    with duckdb.connect(str(two_ports.db), read_only=True) as con:
        rows = con.execute(
            "select a.url, s.url from article_aliases a join articles s using (article_id)"
        ).fetchall()
    assert all(alias.startswith(two_ports.bases[1]) for alias, _ in rows)
    assert all(stored.startswith(two_ports.bases[0]) for _, stored in rows)


def test_the_move_raises_no_new_alert(two_ports: TwoPorts) -> None:
    first, moved, later = two_ports.after
    assert first.alerts > 0 and first.deliveries > 0
    assert (moved.alerts, moved.deliveries) == (first.alerts, first.deliveries)
    assert (later.alerts, later.deliveries) == (first.alerts, first.deliveries)


def test_aliased_urls_are_skipped_like_stored_ones(two_ports: TwoPorts) -> None:
    assert two_ports.summaries[2].new_entries == 0
    assert two_ports.after[2].aliases == two_ports.after[1].aliases


def test_the_syndicated_copy_stays_a_second_article_of_one_story(two_ports: TwoPorts) -> None:
    with duckdb.connect(str(two_ports.db), read_only=True) as con:
        rows = con.execute(
            "select source_id, story_id from articles where url like $a or url like $b",
            {"a": f"%/{ORIGINAL}", "b": f"%/{SYNDICATED}"},
        ).fetchall()
    assert len(rows) == 2
    assert len({source for source, _ in rows}) == 2
    assert len({story for _, story in rows}) == 1


# ---------------------------------------------------------------- host and URL scheme move


@contextmanager
def serve_on(host: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = QuietServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def moved_outlet(routes: dict[str, Route], new_base: str, outlet: str = "caspian-ledger") -> int:
    """The outlet's feed and pages at ``new_base``/news/<slug>: another host, another URL
    scheme, canonical URLs pointing at the new home; one page gains an "Updated" line."""
    site = SAMPLE_DIR / "site"
    feed = (site / outlet / "feed.xml").read_text(encoding="utf-8")
    paths = re.findall(rf"{re.escape(PLACEHOLDER)}/({outlet}/\d{{4}}/\d\d/[\w-]+\.html)", feed)
    paths = sorted(set(paths))

    def moved(text: str) -> str:
        for path in paths:
            text = text.replace(f"{PLACEHOLDER}/{path}", f"{new_base}/news/{Path(path).name}")
        return text.replace(PLACEHOLDER, new_base)

    for number, path in enumerate(paths):
        html = moved((site / path).read_text(encoding="utf-8"))
        if number == 0:
            at = html.index("<p>", html.index("story-body"))
            html = html[:at] + "<p>Updated 2 December 2026, 09:00</p>" + html[at:]
        routes[f"/news/{Path(path).name}"] = Route(
            200, html.encode(), {"Content-Type": "text/html; charset=utf-8"}
        )
    routes["/news/feed.xml"] = Route(
        200, moved(feed).encode(), {"Content-Type": "application/rss+xml; charset=utf-8"}
    )
    return len(paths)


def test_an_outlet_moving_host_and_url_scheme_adds_aliases_not_articles(
    two_ports: TwoPorts, tmp_path: Path
) -> None:
    before = counts(two_ports.db)
    routes: dict[str, Route] = {}
    with serve_on("127.0.0.2", routes_handler(routes)) as new_base:
        pages = moved_outlet(routes, new_base)
        sources = tmp_path / "moved.toml"
        sources.write_text(
            '[[source]]\nid = "caspian-ledger"\nname = "Caspian Ledger"\n'
            f'url = "{new_base}/news/feed.xml"\nlanguage = "en"\nkind = "rss"\n',
            encoding="utf-8",
        )
        summary = run_ingest(sources, two_ports.db)
    after = counts(two_ports.db)
    assert pages == 10
    assert summary.new_articles == 0
    assert (after.articles, after.mentions) == (before.articles, before.mentions)
    assert after.aliases == before.aliases + pages
    assert (after.alerts, after.deliveries) == (before.alerts, before.deliveries)
    reasons = one(
        two_ports.db,
        "select count(*) from article_aliases where url like $1 and reason = 'same_body'",
        [f"{new_base}/news/%"],
    )
    assert reasons == pages  # the page with a new "Updated" line too


# ---------------------------------------------------------------- error pages


def feed_of(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Item {escape(path)}</title><link>{base}{path}</link>"
        f"<guid>{base}{path}</guid><description>Summary of {escape(path)}</description>"
        f"<pubDate>{format_datetime(EPOCH)}</pubDate></item>"
        for path in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>{base}/</link>{items}</channel></rss>"
    ).encode()


EPOCH = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def one_source(tmp: Path, base: str, name: str = "errors") -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(
        f'[[source]]\nid = "{name}"\nname = "{name}"\nurl = "{base}/feed.xml"\n'
        'language = "en"\nkind = "rss"\n',
        encoding="utf-8",
    )
    return path


def page_gets(log: list[RecordedRequest]) -> list[str]:
    return [r.path for r in log if r.path.startswith("/p/")]


def test_a_feed_of_404_pages_leaves_0_articles_and_n_failed_fetches(
    prefect_harness: None, tmp_path: Path
) -> None:
    paths = [f"/p/missing-{i}.html" for i in range(6)]
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {}
    log: list[RecordedRequest] = []
    db = tmp_path / "news.duckdb"
    with serve(routes_handler(routes, log)) as base:  # no route for the pages: 404
        routes["/feed.xml"] = Route(200, feed_of(base, paths), {"Content-Type": "text/xml"})
        sources = one_source(tmp_path, base)
        first = run_ingest(sources, db)
        fetched_first = len(page_gets(log))
        log.clear()
        again = run_ingest(sources, db)  # the retry is not due yet
    assert first.new_articles == 0 and again.new_articles == 0
    assert one(db, "select count(*) from articles") == 0
    assert fetched_first == len(paths)
    assert page_gets(log) == []
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select status, http_status, attempts, error, next_attempt_at > last_attempt_at, "
            "title, summary from page_failures order by url"
        ).fetchall()
    assert len(rows) == len(paths)
    for status, http, attempts, error, later, title, summary in rows:
        assert (status, http, attempts, later) == ("pending", 404, 1, True)
        assert "404" in error and title.startswith("Item") and summary.startswith("Summary")


def test_a_page_that_is_404_first_and_live_later_is_stored_on_a_later_run(
    prefect_harness: None, tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_retry, "FIRST_RETRY", timedelta(0))  # due at the next run
    live = {"now": False}
    article = gzip.decompress((corpus_dir / CORPUS_PAGE).read_bytes())

    def late_page(handler: BaseHTTPRequestHandler) -> None:
        status, body = (200, article) if live["now"] else (404, b"<h1>Not Found</h1>")
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {}
    db = tmp_path / "news.duckdb"
    with serve(routes_handler(routes)) as base:
        routes["/p/late.html"] = late_page
        routes["/feed.xml"] = Route(200, feed_of(base, ["/p/late.html"]), {})
        sources = one_source(tmp_path, base, "late")
        first = run_ingest(sources, db)
        assert first.new_articles == 0
        assert one(db, "select count(*) from page_failures where status = 'pending'") == 1
        live["now"] = True
        routes["/feed.xml"] = Route(200, feed_of(base, []), {})  # the item left the feed
        second = run_ingest(sources, db)
    assert second.new_articles == 1
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("select url, status, length(text), title from articles").fetchall()
        failure = con.execute("select status, attempts from page_failures").fetchall()
    assert len(stored) == 1
    url, status, length, _ = stored[0]
    assert url == f"{base}/p/late.html" and status == "ok" and length > 1000
    assert failure == [("resolved", 1)]
