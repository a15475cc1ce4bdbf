"""Google News sources (``kind = "gnews"``): each item's link is decoded to the publisher's URL
through Google's batchexecute call (``extractors/gnews.py``), cached in ``gnews_links``, and
the publisher named in ``<source url>`` is the outlet. Against real components: a local
stand-in for news.google.com on 127.0.0.1 serving the real formats (the RSS search feed of
``../shared/corpus/feeds/rss-parser/feed-test-source.xml`` with today's
``/rss/articles/<token>`` links, the JavaScript interstitial with its ``data-n-a-sg`` /
``data-n-a-ts`` attributes, the batchexecute reply in the ``)]}'`` framing), a local
publisher serving a real corpus article, real Prefect flow runs and a real DuckDB file.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote

import duckdb
import pytest

from newswatch.core.settings import Settings
from newswatch.core.summaries import IngestSummary
from newswatch.extractors import gnews
from newswatch.extractors.http import Fetcher
from newswatch.extractors.urls import normalise_url
from tests.localserver import RecordedRequest, Route, routes_handler, serve

LOOPBACK = ["127.0.0.0/8"]
SNAPSHOT = "feeds/rss-parser/feed-test-source.xml"
ARTICLE = "articles/fundus/be/PoliticoEu_2025_10_23.html.gz"
TOKEN = (
    "CBMiqAFBVV95cUxPaG1XcGxJdjJTWVpuV0RkNXhsc2dfOFRpdFZ0ZnRjT1dPdFdqVEZXQzRsVG9zZWN6a05mYVl"
    "GRkxqRGZrWlhNd2tNdHFzTW5jT0ZyQmN1NThiLVFmU0VHbXp3eTNIT3hMa3ZjU0lQZFJ0Y3VRdlVsMDBzVmlP"
)
SIGNATURE = "AZ5r3eT8aGxhWQfrUcQ7nW1bVOvwgkv9Bg:1733220645187"
TIMESTAMP = "1733220645"
ARTICLE_PATH = "/article/catherine-connolly-ireland-president-election-nato-eu/"
PUBLISHER_HOME = "https://www.politico.eu"

# The interstitial Google serves for /rss/articles/<token> since 2024 (trimmed: its scripts).
INTERSTITIAL = f"""<!doctype html><html lang="en-US" dir="ltr"><head>
<base href="https://news.google.com/"><meta name="referrer" content="origin">
<title>Google News</title><script nonce="x">window.WIZ_global_data = {{}};</script></head>
<body jscontroller="ndbTgd" jsaction="rcuQ6b:npT2md" data-hveid="0">
<c-wiz jsrenderer="u6MRqc" jsshadow jsdata="deferred-i1" data-node-index="0;0" jsmodel="hc6Ubd">
<div jscontroller="aLI87" jsaction="JIbuQc:Vdl8Ac" data-n-a-sg="{SIGNATURE}"
 data-n-a-ts="{TIMESTAMP}" data-n-a-id="{TOKEN}" data-n-a-sc="0"></div>
<c-data id="i1" jsdata="Nta8Jd;_;1"></c-data></c-wiz>
<script nonce="x">AF_initDataCallback({{key: 'ds:0', hash: '1', data:[], sideChannel: {{}}}});
</script></body></html>"""


def batchexecute_reply(url: str) -> bytes:
    """Google's answer to one Fbv4je request: the XSSI prefix, then the rows."""
    payload = json.dumps(["garturlres", url, 1], separators=(",", ":"))
    rows = [
        ["wrb.fr", "Fbv4je", payload, None, None, None, "generic"],
        ["di", 27],
        ["af.httprm", 26, "-7102648462519376519", 10],
    ]
    return f")]}}'\n\n{json.dumps(rows, separators=(',', ':'))}".encode()


def google_feed(corpus_dir: Path, google: str) -> bytes:
    """The real Google News feed snapshot, its item linking the way Google links today."""
    text = (corpus_dir / SNAPSHOT).read_text(encoding="utf-8")
    old = re.compile(r"https://news\.google\.com/__i/rss/rd/articles/[A-Za-z0-9_-]+\?oc=5")
    text = old.sub(f"{google}/rss/articles/{TOKEN}?oc=5", text, count=1)
    text = re.sub(
        r'<guid isPermaLink="false">\d+</guid>', f'<guid isPermaLink="false">{TOKEN}</guid>', text
    )
    return text.replace(
        '<source url="https://www.rtbf.be">RTBF</source>',
        f'<source url="{PUBLISHER_HOME}">POLITICO</source>',
    ).encode()


@dataclass
class Google:
    """The stand-in's behaviour and what it saw."""

    base: str = ""
    publisher_url: str = ""
    feed: bytes = b""
    batchexecute: str = "ok"  # ok | 429 | garbage
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, prefix: str) -> int:
        return sum(m == method and p.startswith(prefix) for m, p in self.requests)


def google_handler(google: Google) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str, **extra: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with google.lock:
                google.requests.append(("GET", self.path))
            path = self.path.split("?", 1)[0]
            if path == "/rss/search":
                self._send(200, google.feed, "application/xml; charset=utf-8")
            elif path == f"/rss/articles/{TOKEN}":
                self._send(200, INTERSTITIAL.encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found", "text/html")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            with google.lock:
                google.requests.append(("POST", self.path))
                google.forms.append(form)
            if self.path.split("?", 1)[0] != gnews.BATCHEXECUTE_PATH:
                self._send(404, b"not found", "text/html")
            elif google.batchexecute == "429":
                self._send(
                    429, b"<html>Too Many Requests</html>", "text/html", **{"Retry-After": "60"}
                )
            elif google.batchexecute == "garbage":
                self._send(200, b")]}'\n\n<html>We're sorry...</html>", "application/json")
            else:
                body = batchexecute_reply(google.publisher_url)
                self._send(200, body, "application/json; charset=utf-8")

    return Handler


@dataclass
class World:
    google: Google
    sources: Path
    db: Path
    publisher_gets: list[RecordedRequest]


@pytest.fixture
def world(tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    google = Google()
    article = gzip.decompress((corpus_dir / ARTICLE).read_bytes())
    publisher_log: list[RecordedRequest] = []
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {
        ARTICLE_PATH: Route(200, article, {"Content-Type": "text/html; charset=utf-8"})
    }
    with (
        serve(routes_handler(routes, publisher_log)) as publisher,
        serve(google_handler(google)) as base,
    ):
        google.base, google.publisher_url = base, publisher + ARTICLE_PATH
        google.feed = google_feed(corpus_dir, base)
        sources = tmp_path / "sources.toml"
        sources.write_text(
            '[[source]]\nid = "gnews-drones"\nname = "Google News: drones"\n'
            f'url = "{base}/rss/search?q=Shahed+drone+Russia&hl=en-US&gl=US&ceid=US:en"\n'
            'language = "en"\nkind = "gnews"\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("NEWSWATCH_GNEWS_BASE_URL", base)
        yield World(google, sources, tmp_path / "news.duckdb", publisher_log)


def run_ingest(world: World) -> IngestSummary:
    from newswatch.flows.ingest import ingest

    return ingest(sources=str(world.sources), db=str(world.db), allow_private=LOOPBACK)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_gnews_item_is_stored_as_the_publishers_article_and_decoded_once(
    prefect_harness: None, world: World
) -> None:
    first = run_ingest(world)
    google = world.google
    assert first.new_articles == 1
    stored = rows(world.db, "select url, outlet, source_id, status, text, guid from articles")
    assert len(stored) == 1
    url, outlet, source_id, status, text, guid = stored[0]
    assert url == normalise_url(google.publisher_url)  # the publisher's URL, not Google's
    assert outlet == "www.politico.eu"  # the item's <source url>, not the source's name
    assert (source_id, status, guid) == ("gnews-drones", "ok", TOKEN)
    assert isinstance(text, str) and "Catherine Connolly" in text  # the publisher's article
    # what Google was asked: the article page once, one batchexecute POST with the real payload
    assert google.calls("GET", f"/rss/articles/{TOKEN}") == 1
    assert google.calls("POST", gnews.BATCHEXECUTE_PATH) == 1
    (envelopes,) = json.loads(google.forms[0]["f.req"][0])
    rpc, inner, _, _ = envelopes[0]
    request = json.loads(inner)
    assert rpc == "Fbv4je" and request[0] == "garturlreq"
    assert request[2:] == [TOKEN, int(TIMESTAMP), SIGNATURE]
    assert sum(p == ARTICLE_PATH for p in (r.path for r in world.publisher_gets)) == 1
    cached = rows(world.db, "select link, publisher_url from gnews_links")
    assert cached == [(f"{google.base}/rss/articles/{TOKEN}?oc=5", google.publisher_url)]
    assert rows(world.db, "select count(*) from page_failures") == [(0,)]

    google.requests.clear()
    second = run_ingest(world)  # the feed lists the same item: known through the cache
    assert second.new_articles == 0 and second.new_entries == 0
    assert google.calls("POST", gnews.BATCHEXECUTE_PATH) == 0
    assert google.calls("GET", "/rss/articles/") == 0
    assert google.calls("GET", "/rss/search") == 1
    assert rows(world.db, "select count(*) from articles") == [(1,)]


@pytest.mark.parametrize("refusal", ["429", "garbage"])
def test_a_refused_decode_is_a_recorded_page_failure_never_googles_page(
    prefect_harness: None, world: World, refusal: str
) -> None:
    world.google.batchexecute = refusal
    summary = run_ingest(world)
    assert summary.new_articles == 0
    assert rows(world.db, "select count(*) from articles") == [(0,)]
    assert rows(world.db, "select count(*) from gnews_links") == [(0,)]
    failures = rows(
        world.db, "select url, link, status, http_status, error, error_class from page_failures"
    )
    assert len(failures) == 1
    url, link, status, http_status, error, error_class = failures[0]
    google_link = f"{world.google.base}/rss/articles/{TOKEN}?oc=5"
    assert link == google_link and url == normalise_url(google_link)
    assert (status, error_class) == ("pending", "transient")
    assert isinstance(error, str) and error.startswith("Google News link not decoded: ")
    if refusal == "429":
        assert http_status == 429 and "HTTP 429" in error and "Retry-After 60" in error
    else:
        assert "not batchexecute JSON" in error
    # the publisher was never reached, and Google's interstitial was read for its attributes
    # only (one GET), never fetched as the article page
    assert world.publisher_gets == []
    assert world.google.calls("GET", f"/rss/articles/{TOKEN}") == 1

    world.google.requests.clear()
    again = run_ingest(world)  # not due yet: Google is not asked again
    assert again.new_articles == 0
    assert world.google.calls("POST", gnews.BATCHEXECUTE_PATH) == 0


# ---------------------------------------------------------------- the pure parts


def test_article_tokens_only_under_the_configured_base() -> None:
    base = "https://news.google.com"
    assert gnews.article_token(f"{base}/rss/articles/{TOKEN}?oc=5", base) == TOKEN
    assert gnews.article_token(f"{base}/articles/{TOKEN}", base) == TOKEN
    assert gnews.article_token(f"{base}/__i/rss/rd/articles/{TOKEN}?oc=5", base) == TOKEN
    assert gnews.article_token(f"{base}/read/{TOKEN}", base) == TOKEN
    assert gnews.article_token(f"{base}/stories/{TOKEN}", base) is None
    assert gnews.article_token(f"https://example.org/articles/{TOKEN}", base) is None
    assert gnews.article_token(f"http://127.0.0.1:8080/rss/articles/{TOKEN}", base) is None


def test_the_article_page_url_keeps_the_links_locale() -> None:
    base = "https://news.google.com"
    link = f"{base}/rss/articles/{TOKEN}?hl=ru&gl=RU&ceid=RU:ru"
    assert gnews.article_page_url(TOKEN, link, base).endswith(
        f"/rss/articles/{TOKEN}?hl=ru&gl=RU&ceid=RU%3Aru"
    )
    default = gnews.article_page_url(TOKEN, f"{base}/rss/articles/{TOKEN}?oc=5", base)
    assert default == f"{base}/rss/articles/{TOKEN}?hl=en-US&gl=US&ceid=US%3Aen"


def test_decoding_params_and_the_request_body() -> None:
    assert gnews.decoding_params(INTERSTITIAL) == (SIGNATURE, TIMESTAMP)
    assert gnews.decoding_params("<html><body>Before you continue to Google</body></html>") is None
    body = gnews.batchexecute_body(TOKEN, TIMESTAMP, SIGNATURE).decode()
    assert body.startswith("f.req=")
    (envelopes,) = json.loads(unquote(body[len("f.req=") :]))
    assert envelopes[0][0] == "Fbv4je"
    assert json.loads(envelopes[0][1])[2:] == [TOKEN, int(TIMESTAMP), SIGNATURE]


def test_publisher_url_from_the_reply_framings() -> None:
    base = "https://news.google.com"
    url = "https://www.politico.eu/article/x/"
    assert gnews.publisher_url(batchexecute_reply(url).decode(), base) == url
    rows_json = json.dumps([["wrb.fr", "Fbv4je", json.dumps(["garturlres", url, 1])]])
    chunked = f')]}}\'\n\n{len(rows_json)}\n{rows_json}\n25\n[["e",4,null,null,160]]\n'
    assert gnews.publisher_url(chunked, base) == url
    refusals = [
        ')]}\'\n\n[["wrb.fr","Fbv4je",null,null,null,[3],"generic"],["di",12]]',
        ")]}'\n\n<html>sorry</html>",
        batchexecute_reply("https://news.google.com/rss/articles/again").decode(),
        batchexecute_reply("javascript:alert(1)").decode(),
    ]
    for reply in refusals:
        with pytest.raises(gnews.DecodeRefused):
            gnews.publisher_url(reply, base)


def test_the_pacer_spaces_decodes() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def go() -> None:
        pacer = gnews.Pacer(2.0, clock=lambda: now[0], sleep=sleep)
        for _ in range(3):
            await pacer.wait()

    asyncio.run(go())
    assert slept == [0.5, 0.5]


def test_a_google_that_does_not_answer_is_a_transient_refusal() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = Settings(allow_private=("127.0.0.0/8",), retries=0)

    async def go() -> gnews.Decode:
        async with Fetcher(settings) as fetcher:
            return await gnews.decode(fetcher, f"{base}/rss/articles/{TOKEN}?oc=5", base)

    decoded = asyncio.run(go())
    assert decoded.publisher_url is None and decoded.error_class == "transient"
    assert decoded.error is not None and "connection" in decoded.error
    page = gnews.refused_page(decoded)
    assert (page.status, page.url, page.body) == ("error", decoded.link, None)
