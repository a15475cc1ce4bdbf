"""Article extraction on real corpus pages and on the pages that must fail cleanly."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.core.records import FeedEntry, PageFetch
from newswatch.extractors import body_choice, pages
from newswatch.extractors.pages import (
    MIN_TEXT_CHARS,
    content_hash,
    decode_html,
    extract_article,
    extract_fetched,
    strip_site_name,
)
from tests.hostile.helpers import fetch
from tests.localserver import Route, routes_handler, serve

# (page under corpus/articles/fundus, its ground-truth title, its publication day)
FUNDUS_SAMPLE = [
    (
        "ca/CBCNews_2024_08_08.html.gz",
        "What's next for Gaza, after Yahya Sinwar's appointment as Hamas political head?",
        "2024-08-08",
    ),
    (
        "de/TOnline_2026_01_07.html.gz",
        "Russlands Schattenflotte: USA stoppen sanktioniertes Geisterschiff",
        "2026-01-07",
    ),
    (
        "kr/HankookIlbo_2025_05_15.html.gz",
        "왜 경상도, 전라도 나눠서 싸우나... DJ 고향에서 '국민 통합' 외친 이재명",
        "2025-05-15",
    ),
    (
        "pl/Rzeczpospolita_2026_04_19.html.gz",
        "Iran zrezygnował z drugiej rundy rozmów z USA. Powodem „wygórowane żądania Waszyngtonu”",
        "2026-04-19",
    ),
    (
        "us/Reuters_2024_03_07.html.gz",
        "Israeli tank 'likely' fired machine gun at reporters after deadly shelling, report finds",
        "2024-03-07",
    ),
]

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def entry(**changes: object) -> FeedEntry:
    values: dict[str, object] = {
        "source_id": "test",
        "guid": "g1",
        "link": "https://news.example.com/story",
        "title": "Feed title",
        "summary": "The feed's own summary of the story, kept when the page gives nothing.",
        "published_at": datetime(2026, 4, 30, 9, 30, tzinfo=UTC),
    }
    values.update(changes)
    return FeedEntry(**values)  # type: ignore[arg-type]


def page(title: str, paragraphs: list[str], head: str = "", body_extra: str = "") -> bytes:
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html lang='en'><head><title>{title}</title>{head}</head>"
        f"<body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{title}</h1>{text}</article>{body_extra}</body></html>"
    ).encode()


LONG_PARAGRAPHS = [
    "Drone parts made in Iran were assembled at a factory in the Alabuga special economic "
    "zone, investigators said on Tuesday after examining wreckage recovered in Ukraine.",
    "The report traces shipments across the Caspian Sea and names the companies involved in "
    "moving engines, navigation modules and warheads between the two countries.",
    "Officials in Kyiv said the findings confirmed what air defence crews had seen for months: "
    "the drones now arrive in larger numbers and with improved electronics.",
]


@pytest.mark.parametrize(("relative", "title", "day"), FUNDUS_SAMPLE)
def test_real_pages_give_text_title_and_day(
    corpus_dir: Path, relative: str, title: str, day: str
) -> None:
    body = gzip.decompress((corpus_dir / "articles" / "fundus" / relative).read_bytes())
    article = extract_article(body, url="https://example.org/a", content_type="text/html")
    assert article.status == "ok"
    assert len(article.text) >= MIN_TEXT_CHARS
    assert article.title == title
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == day
    assert article.content_hash == content_hash(article.text)


def test_topic_page_keeps_article_and_drops_navigation(corpus_dir: Path) -> None:
    path = corpus_dir / "articles" / "fundus" / "de" / "TOnline_2026_01_07.html.gz"
    article = extract_article(gzip.decompress(path.read_bytes()), url="https://www.t-online.de/")
    assert "Schattenflotte" in article.text or "Schiff" in article.text
    assert article.language == "de"
    assert article.canonical_url.startswith("https://www.t-online.de/nachrichten/")
    assert article.date_method == "page_meta"


def test_paywall_stub_is_marked_and_keeps_feed_summary() -> None:
    head = (
        '<script type="application/ld+json">{"@context": "https://schema.org", '
        '"@type": "NewsArticle", "headline": "Locked story", "isAccessibleForFree": false}'
        "</script>"
    )
    body = page(
        "Locked story",
        ["Only the first lines of the story are shown here."],
        head=head,
        body_extra="<div class='paywall'>Subscribe to continue reading.</div>",
    )
    the_entry = entry()
    article = extract_article(body, url=the_entry.link, content_type="text/html", entry=the_entry)
    assert article.status == "paywall"
    assert article.status_reason
    assert article.text == the_entry.summary
    assert article.method == "feed_summary"


def test_paywall_phrase_without_markup_is_recognised() -> None:
    body = page("Members story", ["A short teaser.", "Subscribe to continue reading this story."])
    article = extract_article(body, url="https://news.example.com/m", content_type="text/html")
    assert article.status == "paywall"


@pytest.mark.parametrize("content_type", ["application/pdf", "text/html", None])
def test_pdf_is_not_html_whatever_the_content_type(content_type: str | None) -> None:
    pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 20
    article = extract_article(
        pdf, url="https://news.example.com/r.pdf", content_type=content_type, entry=entry()
    )
    assert article.status == "not_html"
    assert "PDF" in (article.status_reason or "")
    assert article.text == entry().summary


def test_image_content_type_is_not_html() -> None:
    article = extract_article(
        b"\x00\x01binary", url="https://x.example/i", content_type="image/webp"
    )
    assert article.status == "not_html"


@pytest.mark.parametrize(
    "body", [b"\x89PNG\r\n\x1a\n" + bytes(300), bytes(range(256)) * 8, b"GIF89a" + bytes(99)]
)
def test_binary_served_as_html_is_not_html(body: bytes) -> None:
    article = extract_article(body, url="https://x.example/b", content_type="text/html")
    assert article.status == "not_html"


def test_untyped_html_is_sniffed_and_untyped_text_is_not() -> None:
    html = page("Sniffed", LONG_PARAGRAPHS)
    assert extract_article(html, url="https://x.example/h").status == "ok"
    plain = ("Plain words without any markup. " * 20).encode()
    assert extract_article(plain, url="https://x.example/t").status == "not_html"


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"<html><head></head><body></body></html>"])
def test_empty_page_is_empty(body: bytes) -> None:
    article = extract_article(body, url="https://news.example.com/e", content_type="text/html")
    assert article.status == "empty"
    assert article.text == ""
    assert article.content_hash is None


def test_failed_fetch_keeps_feed_entry_and_reason() -> None:
    the_entry = entry(authors=("A. Writer",))
    fetch = PageFetch(the_entry.link, NOW, "error", http_status=503, error="HTTP 503")
    article = extract_fetched(fetch, the_entry)
    assert article.status == "fetch_failed"
    assert article.status_reason == "HTTP 503"
    assert article.title == "Feed title"
    assert article.text == the_entry.summary
    assert article.author == "A. Writer"
    assert (article.published_at, article.date_method) == (the_entry.published_at, "feed")


def test_body_none_is_fetch_failed() -> None:
    article = extract_article(None, url="https://news.example.com/x")
    assert article.status == "fetch_failed"


def test_short_page_is_short_and_keeps_its_text() -> None:
    body = page("Brief", ["Two sentences of news. Nothing more was published."])
    article = extract_article(body, url="https://news.example.com/b", content_type="text/html")
    assert article.status == "short"
    assert "Two sentences of news" in article.text


def test_long_page_is_ok_with_metadata() -> None:
    head = (
        '<meta property="og:site_name" content="Example News">'
        '<meta name="description" content="What investigators found.">'
        '<meta property="article:published_time" content="2026-04-29T08:15:00+02:00">'
        '<meta name="author" content="Jane Reporter">'
        '<link rel="canonical" href="/story?utm_source=rss">'
    )
    body = page("Drone factory traced", LONG_PARAGRAPHS, head=head)
    article = extract_article(
        body, url="https://news.example.com/story?fbclid=1", content_type="text/html"
    )
    assert article.status == "ok"
    assert article.title == "Drone factory traced"
    assert "Alabuga" in article.text
    assert "Home" not in article.text
    assert article.site_name == "Example News"
    assert article.description == "What investigators found."
    assert article.author == "Jane Reporter"
    assert article.language == "en"
    assert article.canonical_url == "https://news.example.com/story"
    assert article.published_at == datetime(2026, 4, 29, 6, 15, tzinfo=UTC)
    assert article.date_method == "page_meta"


def test_feed_date_wins_over_page_date_unless_flagged() -> None:
    head = '<meta property="article:published_time" content="2026-04-29T08:15:00Z">'
    body = page("Dated", LONG_PARAGRAPHS, head=head)
    from_feed = extract_article(body, url="https://n.example.com/d", entry=entry())
    assert (from_feed.published_at, from_feed.date_method) == (entry().published_at, "feed")
    missing = entry(date_flag="missing", published_at=NOW)
    from_page = extract_article(body, url="https://n.example.com/d", entry=missing)
    assert from_page.date_method == "page_meta"
    assert from_page.published_at == datetime(2026, 4, 29, 8, 15, tzinfo=UTC)


def test_date_in_url_is_used_when_page_has_none() -> None:
    body = page("Undated", LONG_PARAGRAPHS)
    article = extract_article(body, url="https://n.example.com/2025/03/14/undated-story")
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == "2025-03-14"
    assert article.date_method in {"htmldate", "url"}


def test_no_date_anywhere_falls_back_to_entry_stand_in() -> None:
    body = page("Undated", LONG_PARAGRAPHS)
    missing = entry(date_flag="missing", published_at=NOW)
    article = extract_article(body, url="https://n.example.com/undated", entry=missing)
    assert (article.published_at, article.date_method) == (NOW, "fallback")


@pytest.mark.parametrize(
    ("encoding", "content_type", "head"),
    [
        ("windows-1251", "text/html; charset=windows-1251", ""),
        ("windows-1251", "text/html", '<meta charset="windows-1251">'),
        ("iso-8859-1", "text/html; charset=ISO-8859-1", ""),
        ("utf-8", "text/html; charset=iso-8859-1", ""),  # wrong declared charset
    ],
)
def test_bytes_are_decoded_by_declared_or_meta_charset(
    encoding: str, content_type: str, head: str
) -> None:
    words = "Беспилотники Шахед собирают в Алабуге" if "1251" in encoding else "Drohnen für Moskau"
    html = f"<html><head>{head}<title>{words}</title></head><body><p>{words}</p></body></html>"
    assert words in decode_html(html.encode(encoding), content_type)


def test_undeclared_legacy_encoding_is_detected() -> None:
    text = "Иран поставляет России беспилотники и боеприпасы. " * 20
    html = f"<html><body><p>{text}</p></body></html>".encode("windows-1251")
    assert "беспилотники" in decode_html(html, "text/html")


def test_deeply_nested_page_does_not_crash() -> None:
    body = b"<html><body>" + b"<div>" * 50_000 + b"deep" + b"</div>" * 50_000 + b"</body></html>"
    article = extract_article(body, url="https://n.example.com/deep", content_type="text/html")
    assert article.status in {"empty", "short", "error"}


def test_oversized_page_is_refused_before_parsing() -> None:
    body = b"<html><body>" + b"<p>word</p>" * 600_000 + b"</body></html>"
    article = extract_article(body, url="https://n.example.com/big", content_type="text/html")
    assert article.status == "error"
    assert "exceeds" in (article.status_reason or "")


def test_content_hash_ignores_case_and_whitespace() -> None:
    assert content_hash("Iran  and\nRussia") == content_hash("iran and russia")
    assert content_hash("Iran and Russia") != content_hash("Iran and Syria")
    assert content_hash("  ") is None


@pytest.mark.parametrize(
    ("title", "site", "url", "expected"),
    [
        ("Story here - Golem.de", None, "https://www.golem.de/x", "Story here"),
        ("Dax falls | Börsen-Zeitung", "Börsen-Zeitung", "https://bz.example/x", "Dax falls"),
        ("Reuters - Tanker seized", "Reuters", "https://www.reuters.com/x", "Tanker seized"),
        ("Iran: talks end", None, "https://www.rp.pl/x", "Iran: talks end"),
        ("Apple stock falls - report", "AP", "https://apnews.com/x", "Apple stock falls - report"),
    ],
)
def test_site_name_is_stripped_from_titles_only_when_it_is_the_site(
    title: str, site: str | None, url: str, expected: str
) -> None:
    assert strip_site_name(title, site, url) == expected


def test_json_ld_headline_entities_are_decoded() -> None:
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"headline": "Tr&uuml;mmer &quot;Geran&quot; found"}</script>'
    )
    body = page("ignored", LONG_PARAGRAPHS, head=head)
    article = extract_article(body, url="https://n.example.com/t")
    assert article.title == 'Trümmer "Geran" found'


# ---------------------------------------------------------------- choosing the body


def fundus_page(corpus_dir: Path, relative: str) -> tuple[bytes, list[str]]:
    """A Fundus page's bytes and its ground-truth paragraphs (publishers with one version)."""
    path = corpus_dir / "articles" / "fundus" / relative
    truths = json.loads(path.with_name(relative.split("/")[1].split("_")[0] + ".json").read_text())
    (truth,) = truths.values()
    body = truth["body"]
    paragraphs = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        paragraphs += section.get("paragraphs") or []
    return gzip.decompress(path.read_bytes()), [" ".join(p.split()) for p in paragraphs]


def found_share(paragraphs: list[str], text: str) -> float:
    flat = " ".join(text.split())
    return sum(len(p) for p in paragraphs if p[:80] in flat) / sum(len(p) for p in paragraphs)


@pytest.mark.parametrize(
    ("relative", "method"),
    [
        # precision mode keeps the first 784 characters of a 5,700-character article
        ("be/PoliticoEu_2025_10_23.html.gz", "trafilatura_default"),
        # ... the opening of a report six times as long
        ("es/MallorcaMagazin_2025_04_16.html.gz", "trafilatura_default"),
        # ... half of a long feature, and trafilatura's defaults agree with it
        ("us/TheNewYorker_2023_05_16.html.gz", "readability"),
    ],
)
def test_a_precision_fragment_gives_way_to_the_whole_article(
    corpus_dir: Path, relative: str, method: str
) -> None:
    body, truth = fundus_page(corpus_dir, relative)
    first = extract_article(body, url="https://example.org/a", content_type="text/html")
    assert first.status == "ok"
    assert first.method == method
    assert found_share(truth, first.text) > 0.85


@pytest.mark.parametrize(
    ("relative", "kept_out"),
    [
        # trafilatura's defaults append the next story of the page (another topic)
        ("no/Dagbladet_2026_01_06.html.gz", "Ole Gunnar Solskjær"),
        # ... or a privacy notice under each of a dozen pictures
        ("de/BusinessInsiderDE_2024_01_29.html.gz", "Externer Inhalt nicht verfügbar"),
    ],
)
def test_longer_texts_that_are_not_more_article_do_not_win(
    corpus_dir: Path, relative: str, kept_out: str
) -> None:
    path = corpus_dir / "articles" / "fundus" / relative
    body = gzip.decompress(path.read_bytes())
    article = extract_article(body, url="https://example.org/a", content_type="text/html")
    assert article.method == "trafilatura"
    assert kept_out not in article.text


def test_the_others_are_asked_only_when_the_page_holds_text_the_first_lacks(
    corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real_choose = body_choice.choose

    def counting_choose(*args: object, **kwargs: object) -> body_choice.Choice:
        asked.append("choose")
        return real_choose(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(body_choice, "choose", counting_choose)
    whole = [relative for relative, _, _ in FUNDUS_SAMPLE if not relative.startswith("kr/")]
    for relative in whole:  # whole articles: the precision text is enough
        body = gzip.decompress((corpus_dir / "articles" / "fundus" / relative).read_bytes())
        assert extract_article(body, url="https://example.org/a").method == "trafilatura"
    assert asked == []
    body, _ = fundus_page(corpus_dir, "be/PoliticoEu_2025_10_23.html.gz")
    extract_article(body, url="https://example.org/a")
    assert asked == ["choose"]


# ---------------------------------------------------------------- sniffing past leading junk


def corpus_page(corpus_dir: Path) -> bytes:
    path = corpus_dir / "articles" / "fundus" / FUNDUS_SAMPLE[0][0]
    return gzip.decompress(path.read_bytes())


def style_block(size: int) -> bytes:
    rules = b"".join(b".teaser-%d { margin: 0 %dpx; color: #333; }\n" % (i, i) for i in range(999))
    return b"<style>\n" + rules[:size] + b"\n</style>\n"


PHP_WARNING = (
    b'<br />\n<b>Warning</b>:  Undefined array key "lang" in '
    b"<b>/var/www/site/inc/header.php</b> on line <b>%d</b><br />\n"
)


@pytest.mark.parametrize(
    "junk",
    [
        style_block(6000),  # the first 4 KB are a style block
        b"\xef\xbb\xbf\r\n\r\n" + b"".join(PHP_WARNING % n for n in range(60)),  # BOM, warnings
        b" \n\t" * 2000,  # 6 KB of whitespace
    ],
    ids=["style-block", "bom-php-warnings", "whitespace"],
)
def test_untyped_page_behind_leading_junk_is_html(corpus_dir: Path, junk: bytes) -> None:
    assert len(junk) > 4096
    body = junk + corpus_page(corpus_dir)
    routes = {"/a": Route(200, body), "/robots.txt": Route(404)}  # no Content-Type
    with serve(routes_handler(routes)) as base:
        (fetched,) = fetch([f"{base}/a"])
    assert fetched.status == "ok" and fetched.body == body
    assert fetched.content_type is None
    article = extract_fetched(fetched)
    assert article.status == "ok", article.status_reason
    assert article.title == FUNDUS_SAMPLE[0][1]


def test_untyped_utf16_page_with_its_bom_is_html() -> None:
    body = "\ufeff".encode("utf-16-le") + page("Zweite Seite", LONG_PARAGRAPHS).decode().encode(
        "utf-16-le"
    )
    routes = {"/u": Route(200, body), "/robots.txt": Route(404)}
    with serve(routes_handler(routes)) as base:
        (fetched,) = fetch([f"{base}/u"])
    article = extract_fetched(fetched)
    assert article.status == "ok", article.status_reason
    assert "Alabuga" in article.text


def test_sniffing_stops_at_its_limit() -> None:
    words = b"Nothing but words and more words here. " * 1700  # 66 KB without a tag
    assert len(words) > pages.HTML_SNIFF_BYTES
    late = extract_article(words + page("Late", LONG_PARAGRAPHS), url="https://x.example/l")
    assert late.status == "not_html"
    assert "no HTML markup" in (late.status_reason or "")


STATUSES = {"ok", "short", "empty", "paywall", "not_html", "fetch_failed", "error"}


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=2000).map(lambda t: f"<html><body><p>{t}</p></body></html>".encode()),
    ),
    st.sampled_from([None, "text/html", "text/html; charset=bogus", "application/pdf"]),
)
def test_any_bytes_give_an_article_with_a_known_status(
    body: bytes, content_type: str | None
) -> None:
    article = extract_article(body, url="https://n.example.com/h", content_type=content_type)
    assert article.status in STATUSES
    assert isinstance(article.text, str)
