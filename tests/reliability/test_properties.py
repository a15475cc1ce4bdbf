"""Case 53: property-based tests that complement tests/test_feeds.py, test_urls.py and
test_matcher.py (arbitrary bytes / text never raise there). Here: feed-shaped garbage,
truncated and re-encoded feeds, URL normalisation as a fixed point, and matches stable under
Unicode normalisation forms, case and whitespace. Example counts stay moderate (fast).
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.extractors.entities import load_catalogue
from newswatch.extractors.feeds import parse_feed
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.urls import article_id, canonical_url, normalise_url

FETCHED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BASE = "https://feeds.example.org/world/rss.xml"
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=80,
)
fragments = st.sampled_from(
    [
        "<item>",
        "</item>",
        "<entry>",
        "</entry>",
        "<title>",
        "</title>",
        "<link>",
        "</link>",
        '<link href="',
        '"/>',
        "<guid>",
        "</guid>",
        "<pubDate>",
        "</pubDate>",
        "<updated>",
        "</updated>",
        "<description><![CDATA[",
        "]]></description>",
        "&amp;",
        "&lt;",
        "&nbsp;",
        "&bogus;",
        "javascript:alert(1)",
        "//cdn.example.net/x",
        "../relative/path",
        "http://127.0.0.1/",
        "Mon, 01 Jan 2099 00:00:00 GMT",
        "2024-02-30T25:61:00Z",
        "\xff\xfe",
    ]
)
XML_DECL = '<?xml version="1.0" encoding="{enc}"?>'
RDF = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns="http://purl.org/rss/1.0/">'
)
ROOTS = [
    (XML_DECL + '<rss version="2.0"><channel><title>t</title>', "</channel></rss>"),
    (XML_DECL + '<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>"),
    (RDF, "</rdf:RDF>"),
    ("<html><body>", "</body></html>"),
]


@st.composite
def feedish(draw: st.DrawFn) -> bytes:
    """Feed-shaped documents: a real root, then a soup of feed tags, text and garbage."""
    head, tail = draw(st.sampled_from(ROOTS))
    encoding = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1251", "utf-16", "bogus"]))
    parts = draw(st.lists(st.one_of(fragments, xml_text), max_size=40))
    text = head.format(enc=encoding) + "".join(parts) + draw(st.sampled_from([tail, ""]))
    codec = draw(st.sampled_from(["utf-8", "latin-1", "utf-16-le", "cp1251"]))
    return text.encode(codec, errors="replace")


def check_parsed(body: bytes, max_entries: int = 50) -> None:
    parsed = parse_feed(
        body,
        base_url=BASE,
        source_id="prop",
        fetched_at=FETCHED_AT,
        max_entries=max_entries,
    )
    assert len(parsed.entries) <= max_entries
    for entry in parsed.entries:
        for text in (entry.title, entry.summary or "", entry.guid, entry.link):
            text.encode("utf-8")  # valid UTF-8: no lone surrogates
            assert "\x00" not in text
        assert not entry.link or urlsplit(entry.link).scheme in {"http", "https"}
        assert entry.published_at <= FETCHED_AT


@FAST
@given(feedish())
def test_feed_shaped_garbage_never_raises_and_keeps_only_web_links(body: bytes) -> None:
    check_parsed(body)


VALID_FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Волга</title>'
    + "".join(
        f"<item><title>Шахед {i} — drones</title><link>/news/{i}?utm_source=x#top</link>"
        f"<guid>id-{i}</guid><pubDate>Mon, 0{i} Jan 2024 10:00:00 GMT</pubDate>"
        f"<description>&lt;p onclick='x'&gt;IRGC {i}&lt;/p&gt;</description></item>"
        for i in range(1, 8)
    )
    + "</channel></rss>"
).encode()


@FAST
@given(cut=st.integers(min_value=0, max_value=len(VALID_FEED)), junk=st.binary(max_size=64))
def test_a_feed_cut_anywhere_and_followed_by_junk_never_raises(cut: int, junk: bytes) -> None:
    check_parsed(VALID_FEED[:cut] + junk)


@FAST
@given(st.sampled_from(["utf-16", "utf-16-le", "utf-8-sig", "cp1251", "koi8-r"]))
def test_a_re_encoded_feed_still_gives_its_items(codec: str) -> None:
    text = VALID_FEED.decode().replace('encoding="utf-8"', f'encoding="{codec}"')
    parsed = parse_feed(
        text.encode(codec, errors="replace"),
        base_url=BASE,
        source_id="prop",
        fetched_at=FETCHED_AT,
    )
    assert len(parsed.entries) == 7
    assert all(e.link.startswith("https://feeds.example.org/news/") for e in parsed.entries)


hosts = st.sampled_from(["Example.ORG", "example.org", "www.Example.org", "news.example.co.uk"])
paths = st.lists(
    st.text(alphabet="abcXYZ019-_.~%é", min_size=1, max_size=8), min_size=0, max_size=4
).map(lambda parts: "/" + "/".join(parts))
tracking = st.lists(
    st.sampled_from(["utm_source=rss", "utm_medium=feed", "fbclid=abc", "gclid=1"]), max_size=3
)
keeps = st.lists(st.sampled_from(["id=7", "page=2", "q=shahed"]), max_size=2, unique=True)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_normalising_is_a_fixed_point(url: str) -> None:
    once = normalise_url(url)
    assert normalise_url(once) == once


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    path=paths,
    keep=keeps,
    extra=tracking,
    fragment=st.sampled_from(["", "#top", "#comments"]),
    port=st.booleans(),
)
def test_tracking_fragment_port_and_host_case_do_not_change_the_article_id(
    scheme: str,
    host: str,
    path: str,
    keep: list[str],
    extra: list[str],
    fragment: str,
    port: bool,
) -> None:
    plain_query = "?" + "&".join(keep) if keep else ""
    plain = f"{scheme}://{host.lower()}{path}{plain_query}"
    default_port = ":443" if scheme == "https" else ":80"
    noisy_query = "&".join([*keep, *extra])
    noisy = (
        f"{scheme}://{host}{default_port if port else ''}{path}"
        f"{'?' + noisy_query if noisy_query else ''}{fragment}"
    )
    assert article_id(canonical_url(noisy)) == article_id(canonical_url(plain))


MATCHER = Matcher(load_catalogue())
SAMPLES = [
    "Iran delivered Shahed-136 drones to Russia; the Alabuga plant now builds the Geran-2.",
    "Корпус стражей исламской революции и Хезболла; Шахед над Киевом.",
    "سپاه پاسداران انقلاب اسلامی و حزب الله",
    "The IRGC and the Houthis (Ansar Allah) attacked a tanker of the ghost fleet.",
    "Россия и Иран подписали договор о всеобъемлющем стратегическом партнёрстве.",
]


def entity_ids(text: str) -> set[str]:
    return {m.entity_id for m in MATCHER.match(text).mentions}


@FAST
@given(
    text=st.sampled_from(SAMPLES),
    form=st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]),
    spaces=st.sampled_from([" ", "  ", "\u00a0", "\u2009", "\t", "\n"]),
    case=st.sampled_from(["same", "lower", "title"]),
)
def test_entities_stable_under_unicode_forms_whitespace_and_case(
    text: str, form: str, spaces: str, case: str
) -> None:
    varied = unicodedata.normalize(form, text).replace(" ", spaces)
    if case == "lower":
        varied = varied.lower()
        expected = entity_ids(text.lower())  # case-sensitive acronyms (IRGC) need their case
    else:
        varied = varied.title() if case == "title" else varied
        expected = entity_ids(text.title() if case == "title" else text)
    assert entity_ids(varied) == expected


@FAST
@given(
    text=st.text(max_size=400),
    title=st.one_of(st.none(), st.text(max_size=60)),
)
def test_matching_arbitrary_text_is_deterministic(text: str, title: str | None) -> None:
    first = MATCHER.match(text, title=title)
    second = MATCHER.match(text, title=title)
    assert first == second
    assert first.relevance >= 0.0
