"""extractors/sitemaps.py: sitemap / index / news sitemap bytes -> dated page URLs."""

from __future__ import annotations

import gzip
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.core.errors import ConfigError
from newswatch.core.settings import SAMPLE_DIR
from newswatch.extractors.dates import parse_iso
from newswatch.extractors.sitemaps import feed_entries, parse_sitemap, within
from newswatch.extractors.sources import load_sources

BASE = "https://news.example/sitemap.xml"
URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://news.example/a.html</loc><lastmod>2026-06-03T09:20:00+04:00</lastmod></url>
  <url><loc>https://news.example/b.html</loc><lastmod>2026-07-01</lastmod></url>
  <url><loc>https://news.example/c.html</loc></url>
</urlset>"""


def test_urlset_gives_each_page_with_its_lastmod_in_utc() -> None:
    sitemap = parse_sitemap(URLSET, BASE)
    assert sitemap.kind == "urlset"
    assert [(p.url, p.published_at) for p in sitemap.pages] == [
        ("https://news.example/a.html", datetime(2026, 6, 3, 5, 20, tzinfo=UTC)),
        ("https://news.example/b.html", datetime(2026, 7, 1, tzinfo=UTC)),
        ("https://news.example/c.html", None),
    ]
    assert sitemap.notes == ()


def test_news_sitemap_publication_date_wins_over_lastmod_and_title_is_kept() -> None:
    body = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
      xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>https://news.example/n.html</loc><lastmod>2026-09-30</lastmod>
        <news:news><news:publication><news:name>N</news:name>
        <news:language>uk</news:language></news:publication>
        <news:publication_date>2026-09-01T10:00:00Z</news:publication_date>
        <news:title>Shaheds &amp; Gerans</news:title></news:news></url></urlset>"""
    (page,) = parse_sitemap(body, BASE).pages
    assert page.published_at == datetime(2026, 9, 1, 10, tzinfo=UTC)
    assert (page.title, page.language) == ("Shaheds & Gerans", "uk")


def test_sitemap_index_lists_child_sitemaps_not_pages() -> None:
    body = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sitemap><loc>/posts-2026.xml</loc><lastmod>2026-11-01</lastmod></sitemap>
      <sitemap><loc>https://news.example/posts-2025.xml.gz</loc></sitemap></sitemapindex>"""
    sitemap = parse_sitemap(body, BASE)
    assert sitemap.kind == "index" and sitemap.pages == ()
    assert [c.url for c in sitemap.sitemaps] == [
        "https://news.example/posts-2026.xml",
        "https://news.example/posts-2025.xml.gz",
    ]


def test_gzip_sitemap_is_decompressed() -> None:
    sitemap = parse_sitemap(gzip.compress(URLSET), BASE)
    assert len(sitemap.pages) == 3 and "gzip" in sitemap.notes


def test_gzip_bomb_is_cut_at_the_byte_cap() -> None:
    head = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    url = b"<url><loc>https://news.example/p.html</loc></url>"
    bomb = gzip.compress(head + url * 200_000)  # ~10 MB inflated, ~30 kB on the wire
    sitemap = parse_sitemap(bomb, BASE, max_bytes=100_000)
    assert 0 < len(sitemap.pages) <= 100_000 // len(url)
    assert any(note.startswith("truncated") for note in sitemap.notes)


def test_entry_count_is_capped_with_a_note() -> None:
    urls = b"".join(b"<url><loc>https://news.example/%d</loc></url>" % i for i in range(50))
    sitemap = parse_sitemap(b"<urlset>" + urls + b"</urlset>", BASE, max_entries=10)
    assert len(sitemap.pages) == 10
    assert "truncated: first 10 entries kept" in sitemap.notes


def test_broken_xml_keeps_what_parses() -> None:
    broken = URLSET.replace(b"</urlset>", b"").replace(
        b"<url><loc>https://news.example/c", b"<url><loc>&nbsp; & https://news.example/c"
    )
    sitemap = parse_sitemap(broken, BASE)
    assert [p.url for p in sitemap.pages][:2] == [
        "https://news.example/a.html",
        "https://news.example/b.html",
    ]
    assert any(note.startswith("broken XML recovered") for note in sitemap.notes)


def test_unparseable_markup_is_salvaged_by_loc_pattern() -> None:
    garbage = b"<<<!DOCTYPE nonsense <loc>https://news.example/x.html</loc> <loc>/y.html</loc>"
    sitemap = parse_sitemap(garbage, BASE)
    assert {p.url for p in sitemap.pages} == {
        "https://news.example/x.html",
        "https://news.example/y.html",
    }
    assert all(p.published_at is None for p in sitemap.pages)


def test_text_sitemap_one_url_a_line_and_non_http_schemes_dropped() -> None:
    body = b"https://news.example/1.html\n\njavascript:alert(1)\nftp://x/y\n/relative.html\n"
    sitemap = parse_sitemap(body, BASE)
    assert sitemap.kind == "text"
    assert [p.url for p in sitemap.pages] == [
        "https://news.example/1.html",
        "https://news.example/relative.html",
    ]


def test_empty_body_is_an_empty_sitemap() -> None:
    assert parse_sitemap(b"  \n", BASE).kind == "empty"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_parse_without_raising(content: bytes) -> None:
    sitemap = parse_sitemap(content, BASE)
    assert all(p.url.startswith(("http://", "https://")) for p in sitemap.pages)


def test_within_keeps_range_and_undated() -> None:
    pages = parse_sitemap(URLSET, BASE).pages
    kept = within(pages, datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [p.url.rsplit("/", 1)[1] for p in kept] == ["b.html", "c.html"]
    assert within(pages, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))[
        0
    ].url.endswith("a.html")


def test_feed_entries_mark_dated_and_undated_pages() -> None:
    found_at = datetime(2026, 11, 23, tzinfo=UTC)
    entries = feed_entries(parse_sitemap(URLSET, BASE).pages, "news", found_at)
    assert [e.date_flag for e in entries] == ["sitemap", "sitemap", "missing"]
    assert entries[2].published_at == found_at and entries[0].link == entries[0].guid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-03", datetime(2026, 6, 3, tzinfo=UTC)),
        ("2026-06-03T09:20:00Z", datetime(2026, 6, 3, 9, 20, tzinfo=UTC)),
        ("2026-06-03T09:20:00+04:00", datetime(2026, 6, 3, 5, 20, tzinfo=UTC)),
        ("2026-06-03T09:20:00+0400", datetime(2026, 6, 3, 5, 20, tzinfo=UTC)),
        (" 2026-06-03T09:20:00 ", datetime(2026, 6, 3, 9, 20, tzinfo=UTC)),
        ("yesterday", None),
        ("2026-02-30", None),
        ("", None),
        (None, None),
    ],
)
def test_w3c_dates(text: str | None, expected: datetime | None) -> None:
    assert parse_iso(text) == expected


def test_sample_sitemaps_list_every_page_dated_as_published() -> None:
    expected = tomllib.loads((SAMPLE_DIR / "EXPECTED.toml").read_text(encoding="utf-8"))
    site = SAMPLE_DIR / "site"
    listed = {}
    for path in sorted(site.glob("*/sitemap.xml")):
        sitemap = parse_sitemap(path.read_bytes(), "http://127.0.0.1:1/")
        assert sitemap.kind == "urlset" and sitemap.notes == ()
        for page in sitemap.pages:
            listed[page.url.split("{{BASE}}/", 1)[-1]] = page.published_at
    assert listed == {
        key: datetime.fromisoformat(page["published_at"]).astimezone(UTC)
        for key, page in expected["pages"].items()
    }
    index = parse_sitemap((site / "sitemap_index.xml").read_bytes(), "http://127.0.0.1:1/")
    assert len(index.sitemaps) == len(list(site.glob("*/sitemap.xml")))


def test_sources_file_accepts_a_sitemap_url_and_refuses_a_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[[source]]\nid = "a"\nname = "A"\nurl = "https://a.example/rss"\n'
        'sitemap = "https://a.example/sitemap.xml"\n'
    )
    assert load_sources(good)[0].sitemap == "https://a.example/sitemap.xml"
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[source]]\nid = "a"\nname = "A"\nurl = "https://a.example/rss"\n'
        'sitemap = "file:///etc/passwd"\n'
    )
    with pytest.raises(ConfigError, match=r"bad.toml:5: .*'sitemap'.*scheme 'file'"):
        load_sources(bad)
