"""GDELT DOC 2.0 sources (``kind = "gdelt"``): the API's article list, as JSON or RSS, read into
feed entries with the publisher's URL, the publisher (``domain``) as outlet, ``seendate`` as the
UTC date and GDELT's language names as ISO 639-1 codes; its plain-text answers (the rate
limit, a query it cannot run) are failed polls with that reason (``extractors/gdelt.py``).

Against real components: a local stand-in for api.gdeltproject.org on 127.0.0.1 answering
``/api/v2/doc/doc`` in GDELT's formats (the fixtures below are ours, shaped as the API answers:
the JSON fields of ``mode=ArtList&format=json``, RSS 2.0 items for ``format=RSS``, its
plain-text messages with HTTP 429 or 200), a local publisher serving a real corpus article,
a real Prefect flow run and a real DuckDB file.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from newswatch.core.errors import ConfigError
from newswatch.core.records import FeedPoll, Source
from newswatch.core.settings import Settings
from newswatch.extractors import gdelt, gnews
from newswatch.extractors.feed_state import next_state
from newswatch.extractors.sources import load_sources
from newswatch.extractors.urls import normalise_url
from tests.localserver import RecordedRequest, Route, routes_handler, serve

LOOPBACK = ("127.0.0.0/8",)
ARTICLE = "articles/fundus/be/PoliticoEu_2025_10_23.html.gz"
ARTICLE_PATH = "/article/catherine-connolly-ireland-president-election-nato-eu/"
QUERY = "query=(Shahed%20OR%20Geran)%20Russia%20Iran&mode=ArtList&timespan=24h&maxrecords=75"
RATE_LIMIT = (
    "Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com "
    "for larger queries."
)
PHRASE_TOO_SHORT = "The specified phrase is too short."
NOW = datetime(2025, 10, 24, 9, 0, tzinfo=UTC)


def article_list(publisher: str, count: int = 4) -> bytes:
    """A ``format=json`` answer: three articles (one seen twice), publishers' URLs; the
    first ``count`` of them."""
    articles = [
        {
            "url": f"{publisher}{ARTICLE_PATH}",
            "url_mobile": "",
            "title": "Ireland's new president and the question of neutrality",
            "seendate": "20251023T081500Z",
            "socialimage": f"{publisher}/images/connolly.jpg",
            "domain": "politico.eu",
            "language": "English",
            "sourcecountry": "Belgium",
        },
        {
            "url": "https://tass.ru/politika/25431177",
            "url_mobile": "https://tass.ru/amp/politika/25431177",
            "title": "Москва и Тегеран обсудили поставки",
            "seendate": "20251023T064500Z",
            "socialimage": "",
            "domain": "tass.ru",
            "language": "Russian",
            "sourcecountry": "Russia",
        },
        {
            "url": "",
            "url_mobile": "https://m.irna.ir/news/85972211",
            "title": "دیدار &amp; گفتگو در مسکو",
            "seendate": "20251022T231000Z",
            "socialimage": "",
            "domain": "irna.ir",
            "language": "Persian",
            "sourcecountry": "Iran",
        },
        {  # GDELT lists a URL again when it saw it again
            "url": "https://tass.ru/politika/25431177",
            "url_mobile": "",
            "title": "Москва и Тегеран обсудили поставки",
            "seendate": "20251023T070000Z",
            "socialimage": "",
            "domain": "tass.ru",
            "language": "Russian",
            "sourcecountry": "Russia",
        },
    ]
    return json.dumps({"articles": articles[:count]}, ensure_ascii=False, indent=1).encode()


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
<title>GDELT DOC API article list</title>
<link>https://api.gdeltproject.org/api/v2/doc/doc</link>
<description>Articles matching the query</description>
<item>
<title>Drone plant at Alabuga doubles its output, report says</title>
<link>https://www.reuters.com/world/europe/alabuga-drone-output-2025-10-23/</link>
<guid isPermaLink="true">https://www.reuters.com/world/europe/alabuga-drone-output-2025-10-23/</guid>
<pubDate>Thu, 23 Oct 2025 10:30:00 GMT</pubDate>
<description>Drone plant at Alabuga doubles its output, report says</description>
</item>
<item>
<title>Geran-2 strikes: what the wreckage shows</title>
<link>https://kyivindependent.com/geran-2-wreckage/</link>
<guid isPermaLink="true">https://kyivindependent.com/geran-2-wreckage/</guid>
<pubDate>Thu, 23 Oct 2025 05:00:00 GMT</pubDate>
</item>
</channel>
</rss>
"""


Answer = Callable[[dict[str, list[str]]], tuple[int, bytes, str, dict[str, str]]]


@dataclass
class Gdelt:
    """The stand-in's behaviour and what it saw."""

    answer: Answer
    requests: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, path)
    lock: threading.Lock = field(default_factory=threading.Lock)


def gdelt_handler(api: Gdelt) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with api.lock:
                api.requests.append((time.monotonic(), self.path))
            parts = urlsplit(self.path)
            if parts.path != "/api/v2/doc/doc":
                status, body, ctype, extra = 404, b"not found", "text/html", {}
            else:
                status, body, ctype, extra = api.answer(parse_qs(parts.query))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def by_format(publisher: str, count: int = 4) -> Answer:
    """GDELT's answer for the query's ``format``: the JSON list or the RSS channel."""

    def answer(query: dict[str, list[str]]) -> tuple[int, bytes, str, dict[str, str]]:
        fmt = query.get("format", ["html"])[0].lower()
        if fmt == "json":
            return 200, article_list(publisher, count), "application/json; charset=utf-8", {}
        if fmt == "rss":
            return 200, RSS.encode(), "application/rss+xml; charset=utf-8", {}
        return 200, b"<html><body>results</body></html>", "text/html", {}

    return answer


def plain(status: int, text: str, **headers: str) -> Answer:
    return lambda _query: (status, text.encode(), "text/html; charset=utf-8", headers)


@pytest.fixture
def api() -> Iterator[tuple[Gdelt, str]]:
    stand_in = Gdelt(by_format("https://www.politico.eu"))
    with serve(gdelt_handler(stand_in)) as base:
        yield stand_in, base


def source(base: str, fmt: str = "json", sid: str = "gdelt-drones") -> Source:
    url = f"{base}/api/v2/doc/doc?{QUERY}&format={fmt}&sort=DateDesc"
    return Source(id=sid, name="GDELT: drones", url=url, kind="gdelt")


def poll(
    sources: list[Source], gaps: gdelt.HostGaps | None = None, retries: int = 2
) -> list[FeedPoll]:
    settings = Settings(allow_private=LOOPBACK, retries=retries)
    return asyncio.run(gdelt.poll_sources(settings, sources, {}, gaps=gaps or gdelt.HostGaps(0)))


# ---------------------------------------------------------------- polls against the stand-in


def test_a_json_article_list_gives_publisher_entries(api: tuple[Gdelt, str]) -> None:
    stand_in, base = api
    (result,) = poll([source(base, "json")])
    assert (result.status, result.http_status, result.error) == ("ok", 200, None)
    politico, tass, irna = result.entries  # newest first, the repeated URL once
    assert politico.link == f"https://www.politico.eu{ARTICLE_PATH}"
    assert politico.guid == politico.link
    assert tass.link == "https://tass.ru/politika/25431177"
    assert irna.link == "https://m.irna.ir/news/85972211"  # url empty: url_mobile
    assert [gnews.outlet_of(e) for e in result.entries] == ["politico.eu", "tass.ru", "irna.ir"]
    assert politico.published_at == datetime(2025, 10, 23, 8, 15, tzinfo=UTC)
    assert tass.published_at == datetime(2025, 10, 23, 6, 45, tzinfo=UTC)
    assert irna.published_at == datetime(2025, 10, 22, 23, 10, tzinfo=UTC)
    assert {e.date_flag for e in result.entries} == {"feed"}
    assert politico.tags == ("language:en", "sourcecountry:Belgium")
    assert tass.tags == ("language:ru", "sourcecountry:Russia")
    assert irna.tags == ("language:fa", "sourcecountry:Iran")
    assert irna.title == "دیدار & گفتگو در مسکو"
    assert politico.title == "Ireland's new president and the question of neutrality"
    assert len(stand_in.requests) == 1


def test_an_rss_article_list_gives_the_same_entries(api: tuple[Gdelt, str]) -> None:
    _, base = api
    (result,) = poll([source(base, "RSS")])
    assert result.status == "ok"
    reuters, kyiv = result.entries
    assert reuters.link == "https://www.reuters.com/world/europe/alabuga-drone-output-2025-10-23/"
    assert reuters.published_at == datetime(2025, 10, 23, 10, 30, tzinfo=UTC)
    assert kyiv.published_at == datetime(2025, 10, 23, 5, 0, tzinfo=UTC)
    assert [gnews.outlet_of(e) for e in result.entries] == ["reuters.com", "kyivindependent.com"]
    assert reuters.title == "Drone plant at Alabuga doubles its output, report says"


@pytest.mark.parametrize(
    ("status", "headers"), [(429, {}), (200, {}), (429, {"Retry-After": "7200"})]
)
def test_the_rate_limit_text_is_a_rate_limited_failed_poll(
    api: tuple[Gdelt, str], status: int, headers: dict[str, str]
) -> None:
    stand_in, base = api
    stand_in.answer = plain(status, RATE_LIMIT + "\n", **headers)
    (result,) = poll([source(base)], retries=2)
    assert (result.status, result.http_status, result.error_class) == ("error", status, "transient")
    assert result.error is not None and result.error.startswith("GDELT rate limit")
    assert "one every 5 seconds" in result.error
    assert result.entries == ()
    assert len(stand_in.requests) == 1  # never retried at once: the next poll is the retry
    # the feed backs off like any failed feed, at least as long as GDELT asked
    state = next_state(None, result, NOW, Settings())
    assert state.consecutive_failures == 1 and state.last_error == result.error
    assert state.next_poll_at is not None and state.next_poll_at - NOW >= timedelta(minutes=20)
    if headers:
        assert result.retry_after_s == 7200
        assert state.next_poll_at - NOW >= timedelta(seconds=7200)


@pytest.mark.parametrize(
    "message", [PHRASE_TOO_SHORT, "Queries containing OR'd terms must be surrounded by ()."]
)
def test_an_error_text_is_a_failed_poll_with_gdelts_reason(
    api: tuple[Gdelt, str], message: str
) -> None:
    stand_in, base = api
    stand_in.answer = plain(200, message)
    (result,) = poll([source(base)])
    assert (result.status, result.http_status, result.error_class) == ("error", 200, "permanent")
    assert result.error == f"GDELT refused the query: {message}"
    assert result.entries == ()


@pytest.mark.parametrize("body", [b"{}", b'{"articles": []}', b"{}\n"])
def test_an_empty_article_list_is_a_successful_poll_with_no_entries(
    api: tuple[Gdelt, str], body: bytes
) -> None:
    stand_in, base = api
    stand_in.answer = lambda _q: (200, body, "application/json", {})
    (result,) = poll([source(base)])
    assert (result.status, result.entries, result.error) == ("ok", (), None)


def test_json_that_is_not_an_article_list_is_a_failed_poll(api: tuple[Gdelt, str]) -> None:
    stand_in, base = api
    timeline = b'{"query_details": {}, "timeline": [{"series": "Volume", "data": []}]}'
    stand_in.answer = lambda _q: (200, timeline, "application/json", {})
    (result,) = poll([source(base)])
    assert (result.status, result.error_class) == ("error", "permanent")
    assert result.error is not None and result.error.startswith("not a GDELT article list")
    assert "timeline" in result.error


def test_requests_to_one_host_are_spaced(api: tuple[Gdelt, str]) -> None:
    stand_in, base = api
    sources = [source(base, sid=f"gdelt-{n}") for n in range(3)]
    polls = poll(sources, gaps=gdelt.HostGaps(0.4))
    assert [p.source_id for p in polls] == ["gdelt-0", "gdelt-1", "gdelt-2"]
    assert all(p.status == "ok" for p in polls)
    times = [t for t, _ in stand_in.requests]
    assert len(times) == 3
    assert all(later - earlier >= 0.38 for earlier, later in itertools.pairwise(times))


def test_a_rate_limited_host_gap_doubles_until_an_answer() -> None:
    gaps = gdelt.HostGaps(5.0)
    gaps.started("api", 100.0)
    assert gaps.wait_s("api", 101.0) == 4.0
    gaps.answered("api", True, 101.0)  # rate limited: the next start is 10 s away
    assert gaps.wait_s("api", 101.0) == 10.0
    gaps.started("api", 111.0)
    gaps.answered("api", True, 111.5)
    assert gaps.wait_s("api", 111.5) == 20.0
    for _ in range(5):
        gaps.answered("api", True, 200.0)
    assert gaps.wait_s("api", 200.0) == gdelt.MAX_GAP_S
    gaps.started("api", 300.0)
    gaps.answered("api", False, 300.5)
    gaps.started("api", 301.0)
    assert gaps.wait_s("api", 301.0) == 5.0
    assert gaps.wait_s("other", 301.0) == 0.0
    assert gdelt.GAPS.gap == gdelt.MIN_GAP_S == 5.0


# ---------------------------------------------------------------- the pure parts


def test_queries_within_the_documented_limits() -> None:
    ok = "https://api.gdeltproject.org/api/v2/doc/doc?query=Alabuga&mode=ArtList&format=json"
    assert gdelt.query_problem(ok) is None
    assert gdelt.query_problem(ok.replace("json", "RSS") + "&maxrecords=250&timespan=3d") is None
    for unit in ("15min", "90minutes", "24h", "12hours", "7days", "2w", "1weeks", "3m", "1month"):
        assert gdelt.query_problem(f"{ok}&timespan={unit}") is None, unit
    problems = {
        f"{ok}&maxrecords=251": "maxrecords=251",
        f"{ok}&maxrecords=0": "maxrecords=0",
        f"{ok}&timespan=1y": "timespan=1y",
        f"{ok}&timespan=24": "timespan=24",
        ok.replace("format=json", "format=html"): "format=html",
        ok.replace("&format=json", ""): "format=(none)",
        ok.replace("ArtList", "TimelineVol"): "mode=TimelineVol",
        ok.replace("query=Alabuga", "query="): "non-empty 'query'",
        f"{ok}&sort=newest": "sort=newest",
        f"{ok}&startdatetime=2025-10-01": "startdatetime=2025-10-01",
    }
    for url, reason in problems.items():
        problem = gdelt.query_problem(url)
        assert problem is not None and reason in problem, url


def test_the_catalogue_refuses_a_gdelt_query_outside_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(
        '[[source]]\nid = "g"\nname = "G"\nkind = "gdelt"\n'
        'url = "https://api.gdeltproject.org/api/v2/doc/doc?query=x&mode=ArtList'
        '&format=json&maxrecords=500"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"field 'url': maxrecords=500: GDELT returns 1 to 250"):
        load_sources(path)
    seeded = [s for s in load_sources(Path("seeds/sources.toml")) if s.kind == gdelt.KIND]
    assert seeded and all(gdelt.query_problem(s.url) is None for s in seeded)
    assert all("format=json" in s.url for s in seeded)


def test_language_names_and_seendates() -> None:
    assert [gdelt.language_code(n) for n in ("English", "russian", "Persian", "Chinese")] == [
        "en",
        "ru",
        "fa",
        "zh",
    ]
    assert [gdelt.language_code(n) for n in ("Ukrainian", "Turkish", "Hebrew", "Arabic")] == [
        "uk",
        "tr",
        "he",
        "ar",
    ]
    assert gdelt.language_code("Klingonese") is None and gdelt.language_code(None) is None
    assert gdelt.seen_at("20260101T120000Z") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert gdelt.seen_at("2026-01-01") is None and gdelt.seen_at(20260101) is None


def test_article_entries_dates_missing_and_future() -> None:
    body = json.dumps(
        {
            "articles": [
                {"url": "https://a.example/1", "title": "a", "seendate": "bogus", "domain": ""},
                {"url": "https://www.b.example/2", "title": "b", "seendate": "20301231T000000Z"},
                {"url": "javascript:alert(1)", "title": "c", "seendate": "20251023T000000Z"},
            ]
        }
    ).encode()
    articles = gdelt.parse_articles(body)
    assert [a.url for a in articles] == ["https://a.example/1", "https://www.b.example/2"]
    one, two = sorted(gdelt.entries(articles, "g", NOW), key=lambda e: e.link)
    assert (one.published_at, one.date_flag) == (NOW, "missing")
    assert (two.published_at, two.date_flag) == (NOW, "future_clamped")
    assert [gnews.outlet_of(e) for e in (one, two)] == ["a.example", "b.example"]
    for broken in (b"[1, 2]", b'{"articles": 3}', b"{not json"):
        with pytest.raises(gdelt.NotAnArticleList):
            gdelt.parse_articles(broken)


def test_refusals_are_told_from_results() -> None:
    assert gdelt.refusal(b'{"articles": []}', 200) is None
    assert gdelt.refusal(RSS.encode(), 200) is None
    assert gdelt.refusal(b"", 200) is None
    limited = gdelt.refusal(RATE_LIMIT.encode(), 200)
    assert limited is not None and limited.rate_limited and limited.error_class == "transient"
    html_429 = gdelt.refusal(b"<html>Too Many Requests</html>", 429)
    assert html_429 is not None and html_429.rate_limited
    server = gdelt.refusal(b"Service Unavailable", 503)
    assert server is not None and server.error_class == "transient" and "HTTP 503" in server.error
    bad = gdelt.refusal(PHRASE_TOO_SHORT.encode(), 200)
    assert bad is not None and not bad.rate_limited and bad.error_class == "permanent"


# ---------------------------------------------------------------- end to end


@dataclass
class World:
    api: Gdelt
    sources: Path
    db: Path
    publisher_gets: list[RecordedRequest]
    publisher: str


@pytest.fixture
def world(tmp_path: Path, corpus_dir: Path) -> Iterator[World]:
    article = gzip.decompress((corpus_dir / ARTICLE).read_bytes())
    publisher_log: list[RecordedRequest] = []
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {
        ARTICLE_PATH: Route(200, article, {"Content-Type": "text/html; charset=utf-8"})
    }
    with serve(routes_handler(routes, publisher_log)) as publisher:
        stand_in = Gdelt(by_format(publisher, count=1))  # no page outside 127.0.0.1
        with serve(gdelt_handler(stand_in)) as base:
            gdelt_source = source(base, "json")
            sources = tmp_path / "sources.toml"
            sources.write_text(
                f'[[source]]\nid = "{gdelt_source.id}"\nname = "{gdelt_source.name}"\n'
                f'url = "{gdelt_source.url}"\nlanguage = "en"\nkind = "gdelt"\n',
                encoding="utf-8",
            )
            yield World(stand_in, sources, tmp_path / "news.duckdb", publisher_log, publisher)


def test_a_gdelt_article_is_stored_from_the_publishers_page(
    prefect_harness: None, world: World
) -> None:
    from newswatch.flows.ingest import ingest

    summary = ingest(sources=str(world.sources), db=str(world.db), allow_private=list(LOOPBACK))
    assert summary.new_articles == 1
    with duckdb.connect(str(world.db), read_only=True) as con:
        stored = con.execute(
            "select url, outlet, source_id, status, text, guid from articles"
        ).fetchall()
        polls = con.execute("select status, error from feed_polls").fetchall()
    assert polls == [("ok", None)]
    ((url, outlet, source_id, status, text, guid),) = stored
    publisher_url = f"{world.publisher}{ARTICLE_PATH}"
    assert url == normalise_url(publisher_url) and guid == publisher_url
    assert (source_id, status) == ("gdelt-drones", "ok")
    assert isinstance(text, str) and "Catherine Connolly" in text  # the publisher's article
    assert sum(r.path == ARTICLE_PATH for r in world.publisher_gets) == 1
    assert len(world.api.requests) == 1
    assert outlet == "politico.eu"  # the article's GDELT domain, not the source's name
