"""Every real and test feed in ../shared/corpus/feeds served by a real HTTP server on
127.0.0.1 and polled through the Fetcher (the poll path a run takes): nothing escapes, the
files that are not feeds are failed polls with their reason; the rss-parser-js news feeds
give the items that library found (parse_feed on the bytes).

The corpus has no JSON Feed, no RSS 0.92 items, no shared GUIDs and no non-English dates
but Portuguese (uolNoticias.rss), so those cases (issue 19 item 4) are small documents
here, served and polled with the corpus."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import pytest

from newswatch.core.records import FeedEntry, FeedPoll, Source
from newswatch.core.settings import Settings
from newswatch.extractors.feeds import parse_feed
from newswatch.extractors.http import Fetcher
from tests.localserver import Route, routes_handler, serve

FETCHED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RSS_PARSER_JS = {
    "guardian": "guardian.rss",
    "heise": "heise.atom",
    "encoding": "encoding.rss",
    "customfields": "customfields.rss",
    "uolNoticias": "uolNoticias.rss",
    "incomplete-fields": "incomplete-fields.atom",
    "missing-fields": "missing-fields.atom",
}
# Their one item has no title, link or text: parse_feed keeps it only when it has an id.
EMPTY_ITEMS = {"incomplete-fields", "missing-fields"}
# rss-parser decoded undeclared Latin-1 wrongly (U+FFFD in titles): compare links only.
MISDECODED = {"uolNoticias"}
EXECUTABLE = re.compile(r"<\s*script|javascript:|\bon[a-z]+\s*=", re.IGNORECASE)
# What a feed URL serving the file would say it is; the feedparser cases' own `Header:`
# lines (Content-type with a charset, ETag, ...) are sent as they declare.
MEDIA_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".html": "text/html; charset=utf-8",
}
DECLARED_HEADER = re.compile(r"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
POLL_SETTINGS = Settings(
    allow_private=("127.0.0.1",), respect_robots=False, max_per_host=16, retries=0
)
# The corpus files that are not feeds, and the reason their poll gives.
CORPUS_NOT_FEEDS = {
    "real-world/node-feedparser/notafeed.html": "not a feed (text/html); no feed link found",
    "real-world/rss-parser-js/unrecognized.rss": "not a feed (an HTML page served as "
    "application/rss+xml); the page links a feed: http://fishhawk2.marketwatch.com/rss/pf/",
    "real-world/node-feedparser/compressed.xml": "not a feed: a gzip-compressed body sent "
    "without Content-Encoding: gzip",
    "real-world/node-feedparser/invalid-characters-gzipped.xml": "not a feed: a "
    "gzip-compressed body sent without Content-Encoding: gzip",
    "feedparser/illformed/rss_empty_document.xml": "not a feed: SAXParseException",
}

# --- issue 19 item 4: the cases the corpus lacks ------------------------------------------
# JSON Feed 1.1 and 1.0, after the examples of https://jsonfeed.org/version/1.1 (1.0: one
# `author`, a numeric id, an `external_url` only; 1.1: `authors`, `language`).
JSON_FEED_11 = json.dumps({
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Drone Watch",
    "home_page_url": "https://drones.example.org/",
    "feed_url": "https://drones.example.org/feed.json",
    "language": "en",
    "authors": [{"name": "Desk"}],
    "items": [
        {"id": "https://drones.example.org/2022/11/alabuga", "url": "/2022/11/alabuga",
         "title": "Alabuga output <b>doubles</b>",
         "content_html": "<p>Shahed assembly <script>alert(1)</script>grows.</p>",
         "date_published": "2022-11-16T10:00:00+01:00", "tags": ["Alabuga", "Shahed"]},
        {"id": "2", "url": "https://drones.example.org/2022/11/geran",
         "title": "Geran-2 seen over Kyiv", "content_text": "Plain text body.",
         "date_published": "2022-11-15T08:30:00Z",
         "date_modified": "2022-11-15T09:00:00Z", "authors": [{"name": "A. Reporter"}]},
    ],
}).encode()  # fmt: skip
JSON_FEED_10 = json.dumps({
    "version": "https://jsonfeed.org/version/1",
    "title": "Treaty Notes",
    "author": {"name": "Notes Team", "url": "https://notes.example.org/"},
    "items": [
        {"id": 101, "external_url": "https://elsewhere.example.org/treaty",
         "title": "Partnership treaty ratified", "summary": "The Duma voted.",
         "date_published": "2025-04-08T12:00:00-04:00"},
    ],
}).encode()  # fmt: skip
JSON_FEED_11_ITEMS = {
    "/2022/11/alabuga": (
        "Alabuga output doubles",
        "Shahed assembly grows.",
        datetime(2022, 11, 16, 9, 0, tzinfo=UTC),
    ),
    "https://drones.example.org/2022/11/geran": (
        "Geran-2 seen over Kyiv",
        "Plain text body.",
        datetime(2022, 11, 15, 8, 30, tzinfo=UTC),
    ),
}
NOT_A_JSON_FEED = b'{"status": "ok", "results": [{"title": "x", "url": "https://a.example/x"}]}'
# Plain XML (no feed root): nothing, or an <item> feedparser would report as one entry.
PLAIN_XML = b'<?xml version="1.0"?><!-- export --><note><to>Desk</to><body>Hi</body></note>'
CATALOG_XML = (
    b'<?xml version="1.0"?><catalog><item><title>Book</title>'
    b"<link>https://shop.example.org/book</link></item></catalog>"
)
# RSS 0.92 (after the userland.com sample): items with a description only, some with an
# enclosure, none with a guid, a link or a date.
RSS_092 = b"""<?xml version="1.0"?>
<rss version="0.92"><channel><title>Dave's Radio</title><link>http://radio.example.org/</link>
<description>Notes</description>
<item><description>It's been a big week.</description></item>
<item><description>Shahed parts found in a downed drone.</description></item>
<item><description>Listen to this.</description>
  <enclosure url="http://radio.example.org/a.mp3" length="1" type="audio/mpeg"/></item>
<item><description>Listen to this.</description>
  <enclosure url="http://radio.example.org/b.mp3" length="1" type="audio/mpeg"/></item>
</channel></rss>"""
# Four items sharing one GUID with their own links and bodies, then one GUID twice with one
# link (the second, newer, is an update of the first).
SHARED_GUID = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><guid isPermaLink="false">wire-1</guid><link>https://wire.example.org/a</link>
  <title>A</title><description>Body A</description></item>
<item><guid isPermaLink="false">wire-1</guid><link>https://wire.example.org/b</link>
  <title>B</title><description>Body B</description></item>
<item><guid isPermaLink="false">wire-1</guid><link>https://wire.example.org/c</link>
  <title>C</title><description>Body C</description></item>
<item><guid isPermaLink="false">wire-1</guid><link>https://wire.example.org/d</link>
  <title>D</title><description>Body D</description></item>
<item><guid isPermaLink="false">wire-2</guid><link>https://wire.example.org/e</link>
  <title>E old</title><pubDate>Mon, 03 Nov 2025 10:00:00 GMT</pubDate></item>
<item><guid isPermaLink="false">wire-2</guid><link>https://wire.example.org/e</link>
  <title>E new</title><pubDate>Mon, 03 Nov 2025 12:00:00 GMT</pubDate></item>
</channel></rss>"""
# pubDate in the feed's own language: Italian (declared), then Russian and Ukrainian
# (undeclared: tried in the topic's languages).
LOCAL_DATES = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Notizie</title><language>it-it</language>
<item><title>it</title><link>https://it.example.org/1</link>
  <pubDate>mer, 16 nov 2022 10:00:00 +0100</pubDate></item>
<item><title>ru</title><link>https://it.example.org/2</link>
  <pubDate>ср, 16 ноя 2022 10:00:00 +0300</pubDate></item>
<item><title>uk</title><link>https://it.example.org/3</link>
  <pubDate>16 листопада 2022 10:00</pubDate></item>
<item><title>none</title><link>https://it.example.org/4</link>
  <pubDate>not a date at all</pubDate></item>
</channel></rss>""".encode()
EXTRA = {
    "json-feed-1.1.json": (JSON_FEED_11, "application/feed+json"),
    "json-feed-1.0.json": (JSON_FEED_10, "application/json"),
    "json-feed-as-text.json": (JSON_FEED_11, "text/plain; charset=utf-8"),
    "not-a-json-feed.json": (NOT_A_JSON_FEED, "application/json"),
    "plain.xml": (PLAIN_XML, "application/xml"),
    "catalog.xml": (CATALOG_XML, "text/xml"),
    "rss092.xml": (RSS_092, "application/rss+xml"),
    "shared-guid.xml": (SHARED_GUID, "application/rss+xml"),
    "local-dates.xml": (LOCAL_DATES, "application/rss+xml"),
}


def served_headers(path: Path, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": MEDIA_TYPES.get(path.suffix, "application/xml")}
    prolog = body[:2048].decode("latin-1")
    if prolog.lstrip().startswith("<!--"):
        for name, value in DECLARED_HEADER.findall(prolog.split("-->", 1)[0]):
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = value
    return headers


def poll_all(base: str, paths: list[str]) -> dict[str, FeedPoll]:
    sources = [Source(f"s{n}", path, f"{base}/{path}") for n, path in enumerate(paths)]

    async def go() -> list[FeedPoll]:
        async with Fetcher(POLL_SETTINGS) as fetcher:
            return await fetcher.poll_feeds(sources, {})

    return dict(zip(paths, asyncio.run(go()), strict=True))


@pytest.fixture(scope="module")
def corpus_files(corpus_dir: Path) -> dict[str, Path]:
    root = corpus_dir / "feeds"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def polls(corpus_files: dict[str, Path]) -> Iterator[dict[str, FeedPoll]]:
    """Every corpus file at /feeds/<its path>, the cases above at /extra/<name>: one poll
    each, all in one ``poll_feeds`` call as a run makes it."""
    routes: dict[str, Route] = {}
    for name, path in corpus_files.items():
        body = path.read_bytes()
        routes[f"/feeds/{name}"] = Route(200, body, served_headers(path, body))
    for name, (body, media_type) in EXTRA.items():
        routes[f"/extra/{name}"] = Route(200, body, {"Content-Type": media_type})
    with serve(routes_handler(routes)) as base:  # type: ignore[arg-type]
        yield poll_all(base, [path.lstrip("/") for path in routes])


def corpus_poll(polls: dict[str, FeedPoll], name: str) -> FeedPoll:
    return polls[f"feeds/{name}"]


def extra_poll(polls: dict[str, FeedPoll], name: str) -> FeedPoll:
    return polls[f"extra/{name}"]


def by_link(poll: FeedPoll) -> dict[str, FeedEntry]:
    return {entry.link: entry for entry in poll.entries}


def test_every_corpus_feed_is_polled_without_an_exception(
    corpus_files: dict[str, Path], polls: dict[str, FeedPoll]
) -> None:
    assert len(corpus_files) > 1600
    with_entries = 0
    failed: dict[str, str] = {}
    for name in corpus_files:
        poll = corpus_poll(polls, name)
        assert poll.http_status == 200, (name, poll.error)
        assert poll.status in ("ok", "error"), name
        if poll.status == "error":
            failed[name] = poll.error or ""
            assert poll.error_class == "permanent", (name, poll.error)
            assert poll.entries == ()
            continue
        with_entries += bool(poll.entries)
        for entry in poll.entries:
            assert entry.published_at.tzinfo is not None
            assert entry.published_at <= poll.fetched_at
            assert not entry.link or entry.link.startswith(("http://", "https://"))
            entry.summary.encode("utf-8")
    # No internal error, no parse past its deadline: only the files that are not feeds fail.
    assert sorted(failed) == sorted(CORPUS_NOT_FEEDS)
    for name, reason in CORPUS_NOT_FEEDS.items():
        assert failed[name].startswith(reason), (name, failed[name])
    print(f"\n{len(corpus_files)}/{len(corpus_files)} corpus feeds polled over HTTP, "
          f"0 exceptions, {len(failed)} not feeds, {with_entries} with entries")  # fmt: skip
    assert with_entries > 800


def test_json_feeds_yield_their_entries(polls: dict[str, FeedPoll]) -> None:
    for name in ("json-feed-1.1.json", "json-feed-as-text.json"):
        poll = extra_poll(polls, name)
        assert poll.status == "ok", poll.error
        entries = by_link(poll)
        # A relative url is resolved against the URL the feed was served from.
        base = poll.final_url or ""
        expected = {urljoin(base, url): item for url, item in JSON_FEED_11_ITEMS.items()}
        assert sorted(entries) == sorted(expected)
        for link, (title, summary, published) in expected.items():
            entry = entries[link]
            assert (entry.title, entry.summary, entry.published_at) == (title, summary, published)
            assert entry.date_flag == "feed"
        alabuga = entries[urljoin(poll.final_url or "", "/2022/11/alabuga")]
        assert alabuga.guid == "https://drones.example.org/2022/11/alabuga"
        assert alabuga.tags == ("Alabuga", "Shahed") and alabuga.authors == ("Desk",)
        assert entries["https://drones.example.org/2022/11/geran"].authors == ("A. Reporter",)
    (treaty,) = extra_poll(polls, "json-feed-1.0.json").entries
    assert treaty.guid == "101"
    assert treaty.link == "https://elsewhere.example.org/treaty"
    assert (treaty.title, treaty.summary) == ("Partnership treaty ratified", "The Duma voted.")
    assert treaty.published_at == datetime(2025, 4, 8, 16, 0, tzinfo=UTC)
    assert treaty.authors == ("Notes Team",)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("plain.xml", "not a feed: an XML document with root <note>, not RSS, Atom, RDF"),
        ("catalog.xml", "not a feed: an XML document with root <catalog>, not RSS, Atom, RDF"),
        ("not-a-json-feed.json", "not a feed: JSON that is not a JSON Feed (no version)"),
    ],
)
def test_a_document_that_is_not_a_feed_is_a_failed_poll_with_its_reason(
    polls: dict[str, FeedPoll], name: str, reason: str
) -> None:
    poll = extra_poll(polls, name)
    assert poll.status == "error"
    assert poll.error_class == "permanent"
    assert poll.error is not None and poll.error.startswith(reason), poll.error
    assert poll.entries == ()


def test_rss_092_items_without_guid_or_link_are_all_kept(polls: dict[str, FeedPoll]) -> None:
    poll = extra_poll(polls, "rss092.xml")
    assert poll.status == "ok", poll.error
    assert sorted(e.summary for e in poll.entries) == sorted([
        "It's been a big week.", "Shahed parts found in a downed drone.",
        "Listen to this.", "Listen to this.",
    ])  # fmt: skip
    guids = [e.guid for e in poll.entries]
    assert len(set(guids)) == 4 and all(g.startswith("sha1:") for g in guids)
    again = parse_feed(RSS_092, base_url="http://x.example/", source_id="s", fetched_at=FETCHED_AT)
    assert sorted(e.guid for e in again.entries) == sorted(guids)  # the same identity each poll


def test_items_sharing_a_guid_are_distinct_by_link_and_updates_by_guid_and_link(
    polls: dict[str, FeedPoll],
) -> None:
    poll = extra_poll(polls, "shared-guid.xml")
    entries = by_link(poll)
    assert len(poll.entries) == 5
    assert {link[-1]: e.summary for link, e in entries.items() if e.guid == "wire-1"} == {
        "a": "Body A", "b": "Body B", "c": "Body C", "d": "Body D",
    }  # fmt: skip
    assert entries["https://wire.example.org/e"].title == "E new"
    assert any("repeated GUID and link" in note for note in poll.notes)


def test_pubdate_in_the_feeds_language_is_read(
    polls: dict[str, FeedPoll], corpus_files: dict[str, Path]
) -> None:
    entries = {e.title: e for e in extra_poll(polls, "local-dates.xml").entries}
    assert entries["it"].published_at == datetime(2022, 11, 16, 9, 0, tzinfo=UTC)
    assert entries["ru"].published_at == datetime(2022, 11, 16, 7, 0, tzinfo=UTC)
    assert entries["uk"].published_at == datetime(2022, 11, 16, 10, 0, tzinfo=UTC)
    assert {e.date_flag for title, e in entries.items() if title != "none"} == {"feed"}
    assert entries["none"].date_flag == "missing"
    # The corpus's Portuguese feed ("Seg, 24 Set 2018 19:22:00 -0300"), undeclared Latin-1.
    uol = corpus_poll(polls, "real-world/rss-parser-js/uolNoticias.rss")
    assert len(uol.entries) == 15 and {e.date_flag for e in uol.entries} == {"feed"}
    assert {e.published_at.date() for e in uol.entries} == {datetime(2018, 9, 24).date()}
    assert max(e.published_at for e in uol.entries) == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)


def parse(path: Path):  # type: ignore[no-untyped-def]
    return parse_feed(
        path.read_bytes(),
        base_url="http://feeds.example.org/feed.xml",
        source_id=path.stem,
        fetched_at=FETCHED_AT,
    )


def test_sanitize_cases_leave_nothing_executable(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "feeds/feedparser/wellformed/sanitize").glob("*.xml"))
    assert len(files) == 745
    offenders = []
    for path in files:
        for entry in parse(path).entries:
            if EXECUTABLE.search(entry.title) or EXECUTABLE.search(entry.summary):
                offenders.append(path.name)
    print(f"\n{len(files) - len(set(offenders))}/{len(files)} sanitize cases: "
          f"0 executable markup in titles/summaries")  # fmt: skip
    assert offenders == []


def collapse(text: str | None) -> str:
    return " ".join((text or "").split())


@pytest.mark.parametrize("name", sorted(RSS_PARSER_JS))
def test_rss_parser_js_feeds_match_that_librarys_items(corpus_dir: Path, name: str) -> None:
    expected_path = corpus_dir / "feeds-expected/rss-parser-js" / f"{name}.json"
    encoding = "latin-1" if name == "encoding" else "utf-8"
    expected = json.loads(expected_path.read_bytes().decode(encoding))["feed"]["items"]
    parsed = parse(corpus_dir / "feeds/real-world/rss-parser-js" / RSS_PARSER_JS[name])

    if name in EMPTY_ITEMS:
        assert len(expected) == 1 and not expected[0].get("title") and not expected[0].get("link")
        assert len(parsed.entries) <= 1
        assert all(not e.title and not e.link for e in parsed.entries)
        return
    assert len(parsed.entries) == len(expected)
    assert sorted(e.link for e in parsed.entries) == sorted(i["link"] for i in expected)
    if name not in MISDECODED:
        titles = sorted(collapse(e.title) for e in parsed.entries)
        assert titles == sorted(collapse(i["title"]) for i in expected)
    dated = {i["link"]: i["isoDate"] for i in expected if i.get("isoDate")}
    for entry in parsed.entries:
        if entry.link in dated:
            iso = dated[entry.link].replace("Z", "+00:00")
            assert entry.published_at == datetime.fromisoformat(iso)
            assert entry.date_flag == "feed"


def test_html_page_instead_of_a_feed_is_reported(corpus_dir: Path) -> None:
    parsed = parse(corpus_dir / "feeds/real-world/rss-parser-js/unrecognized.rss")
    assert parsed.is_html
    assert parsed.entries == ()
    assert parsed.discovered_feed_url == "http://fishhawk2.marketwatch.com/rss/pf/"
