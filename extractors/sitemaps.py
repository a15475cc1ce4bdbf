"""Sitemaps -> dated page URLs: ``<urlset>``, ``<sitemapindex>``, Google News sitemaps.

Pure: bytes in, frozen records out (``extractors/http.py`` does the fetching). Robust to
what real sites serve: gzip bodies (``sitemap.xml.gz``), broken XML (lxml's recovering
parser keeps what parses, and a regex over ``<loc>`` salvages the rest), plain-text
sitemaps (one URL a line), huge files (decompressed size and entry count are capped).
A page's date is its ``news:publication_date`` when given, else its ``lastmod``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from newswatch.core.records import FeedEntry
from newswatch.extractors.dates import parse_iso

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit, after decompression
MAX_ENTRIES = 50_000  # the sitemaps.org limit per file
GZIP_MAGIC = b"\x1f\x8b"
_LOC = re.compile(rb"<(?:[\w.-]+:)?loc>\s*([^<\s]+)\s*</(?:[\w.-]+:)?loc>", re.IGNORECASE)


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<url>`` (a page) or one ``<sitemap>`` of an index (a child sitemap)."""

    url: str
    published_at: datetime | None = None  # news:publication_date, else lastmod (UTC)
    title: str | None = None  # news:title
    language: str | None = None  # news:language


@dataclass(frozen=True)
class Sitemap:
    """What one sitemap file holds."""

    kind: str  # urlset | index | text | empty
    pages: tuple[SitemapEntry, ...] = ()
    sitemaps: tuple[SitemapEntry, ...] = ()  # children of a sitemap index
    notes: tuple[str, ...] = ()  # e.g. "gzip", "broken XML recovered", "truncated: ..."


def parse_sitemap(
    content: bytes,
    base_url: str,
    *,
    max_entries: int = MAX_ENTRIES,
    max_bytes: int = MAX_SITEMAP_BYTES,
) -> Sitemap:
    """Parse a sitemap, sitemap index or news sitemap; never raises on bad input."""
    notes: list[str] = []
    if content.startswith(GZIP_MAGIC):
        content, gzip_notes = _gunzip(content, max_bytes)
        notes += gzip_notes
    if len(content) > max_bytes:
        content = content[:max_bytes]
        notes.append(f"truncated: first {max_bytes} bytes kept")
    stripped = content.lstrip()
    if not stripped:
        return Sitemap("empty", notes=tuple(notes))
    if not stripped.startswith(b"<"):
        return _text_sitemap(content, base_url, max_entries, notes)
    return _xml_sitemap(content, base_url, max_entries, notes)


def within(
    entries: Iterable[SitemapEntry], since: datetime, until: datetime | None
) -> list[SitemapEntry]:
    """Entries dated in [since, until]; undated entries are kept (they may be in range)."""
    return [
        e
        for e in entries
        if e.published_at is None
        or (e.published_at >= since and (until is None or e.published_at <= until))
    ]


def feed_entries(
    entries: Sequence[SitemapEntry], source_id: str, found_at: datetime
) -> list[FeedEntry]:
    """Sitemap pages as feed entries, so the ingest stages take them as they are.

    ``date_flag`` is ``sitemap`` (dated) or ``missing`` (undated, ``published_at`` is
    ``found_at``): either way the page's own date wins over the sitemap's at extraction.
    """
    return [
        FeedEntry(
            source_id=source_id,
            guid=e.url,
            link=e.url,
            title=e.title or "",
            summary="",
            published_at=e.published_at or found_at,
            date_flag="sitemap" if e.published_at else "missing",
        )
        for e in entries
    ]


# ----------------------------------------------------------------- internals


def _gunzip(content: bytes, max_bytes: int) -> tuple[bytes, list[str]]:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(content, max_bytes + 1)
    except zlib.error as exc:
        return b"", [f"broken gzip: {exc}"]
    notes = ["gzip"]
    if len(data) > max_bytes:
        notes.append(f"truncated: first {max_bytes} bytes of the gzip content kept")
        data = data[:max_bytes]
    elif not decompressor.eof:
        notes.append("gzip stream cut short")
    return data, notes


def _xml_sitemap(content: bytes, base_url: str, max_entries: int, notes: list[str]) -> Sitemap:
    parser = etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, huge_tree=False, remove_pis=True
    )
    try:
        root = etree.fromstring(content, parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if parser.error_log:
        notes.append(f"broken XML recovered ({parser.error_log[0].message.strip()})")
    if root is None:
        return _salvaged(content, base_url, max_entries, notes)
    tag = etree.QName(root).localname if isinstance(root.tag, str) else ""
    if tag == "sitemapindex":
        children = _entries(root, "sitemap", base_url, max_entries, notes)
        return Sitemap("index", sitemaps=children, notes=tuple(notes))
    pages = _entries(root, "url", base_url, max_entries, notes)
    if not pages and tag != "urlset":
        return _salvaged(content, base_url, max_entries, notes)
    return Sitemap("urlset", pages=pages, notes=tuple(notes))


def _entries(
    root: etree._Element, element: str, base_url: str, max_entries: int, notes: list[str]
) -> tuple[SitemapEntry, ...]:
    found: list[SitemapEntry] = []
    for node in root.iter(f"{{*}}{element}"):
        fields = _child_texts(node)
        url = _absolute(fields.get("loc"), base_url)
        if url is None:
            continue
        if len(found) == max_entries:
            notes.append(f"truncated: first {max_entries} entries kept")
            break
        found.append(
            SitemapEntry(
                url=url,
                published_at=parse_iso(fields.get("publication_date"))
                or parse_iso(fields.get("lastmod")),
                title=fields.get("title") or None,
                language=fields.get("language") or None,
            )
        )
    return tuple(found)


def _child_texts(node: etree._Element) -> dict[str, str]:
    """Local name -> text of every descendant (``news:news/news:title`` -> ``title``)."""
    texts: dict[str, str] = {}
    for child in node.iterdescendants():
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name not in texts and child.text and child.text.strip():
            texts[name] = child.text.strip()
    return texts


def _salvaged(content: bytes, base_url: str, max_entries: int, notes: list[str]) -> Sitemap:
    """Unparseable XML: every ``<loc>`` the regex finds, undated."""
    urls = [m.group(1).decode("utf-8", "replace") for m in _LOC.finditer(content)]
    pages = _undated(urls, base_url, max_entries, notes)
    if pages:
        notes.append("locations salvaged by pattern (no dates)")
    return Sitemap("urlset" if pages else "empty", pages=pages, notes=tuple(notes))


def _text_sitemap(content: bytes, base_url: str, max_entries: int, notes: list[str]) -> Sitemap:
    lines = content.decode("utf-8", "replace").splitlines()
    pages = _undated([line.strip() for line in lines], base_url, max_entries, notes)
    return Sitemap("text" if pages else "empty", pages=pages, notes=tuple(notes))


def _undated(
    urls: Iterable[str], base_url: str, max_entries: int, notes: list[str]
) -> tuple[SitemapEntry, ...]:
    found: list[SitemapEntry] = []
    for raw in urls:
        url = _absolute(raw, base_url)
        if url is None:
            continue
        if len(found) == max_entries:
            notes.append(f"truncated: first {max_entries} entries kept")
            break
        found.append(SitemapEntry(url=url))
    return tuple(found)


def _absolute(loc: str | None, base_url: str) -> str | None:
    if not loc:
        return None
    url = urljoin(base_url, loc.strip())
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return url


__all__ = [
    "MAX_ENTRIES",
    "MAX_SITEMAP_BYTES",
    "Sitemap",
    "SitemapEntry",
    "feed_entries",
    "parse_sitemap",
    "within",
]
