"""Feed bytes -> normalised entries. Pure: no network, no clock (``fetched_at`` comes in).

feedparser always gets ``io.BytesIO(content)``: given a str or bytes that look like a path
or URL it would open that file or URL itself. It never raises on broken XML; it sets
``bozo`` and keeps what it could read, and so do we. A page served instead of a feed is
reported (``is_html``) with the feed link it advertises, found by trafilatura's discovery.
A document feedparser finds no feed format in (plain XML, a gzip body sent without
``Content-Encoding``) has ``version`` None and says why in ``not_a_feed``. A JSON body is
read as a JSON Feed 1.0/1.1 (``json_feed.py``) into the same entries.

Entry identity: the GUID (RSS ``guid``, Atom ``id``, JSON Feed ``id``), else the link, else
a hash of the item's content (title, text, dates, enclosures, authors), so distinct items
without either never collapse. Items repeating a GUID are one entry only when their link is
the same too (an update: the newest is kept); with different links they stay distinct.
A date feedparser cannot read (non-English day and month names) goes to ``feed_dates.py``.

Parsing can be slow on hostile input (feedparser's author regex is quadratic), so the
fetcher runs :func:`parse_feed` in a worker thread under a deadline.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from trafilatura.feeds import FeedParameters, determine_feed

from newswatch.core.records import FeedEntry
from newswatch.extractors.cadence import declared_interval
from newswatch.extractors.feed_dates import FeedDateParser, feed_offset
from newswatch.extractors.json_feed import looks_like_json, parse_json_feed

ALLOWED_LINK_SCHEMES = frozenset({"http", "https"})
# Past this many <item>/<entry> elements the document is cut before parsing (feedparser
# needs ~10 s and ~180 MB for 100k items); feeds list their newest items first.
PRUNE_FACTOR = 2
MAX_TAIL_BYTES = 64 * 1024
BLOCK_TAGS = (
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "table", "tr", "section", "article", "figure", "figcaption",
)  # fmt: skip
DROPPED_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
HTML_SNIFF = re.compile(rb"<\s*(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE)
# feedparser runs a quadratic e-mail regex over every person field (kurtmckee/feedparser
# #562: 16 KB -> 1.8 s CPU, holding the GIL, so no thread deadline can interrupt it).
# Text in those elements is cut to MAX_PERSON_CHARS before parsing.
MAX_PERSON_CHARS = 512
# An entity defined through other entities is how "billion laughs" documents grow; expat
# stops them only after ~8 MB of expansion, which costs feedparser seconds of callbacks.
# A DOCTYPE internal subset with such a declaration is removed before parsing.
NESTED_ENTITY = re.compile(rb"<!ENTITY\s+(?:%\s*)?[\w.:-]+\s+([\"'])[^\"']*&[A-Za-z_%][\w.:-]*;")
INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
PROLOG_BYTES = 64 * 1024
# The first element of an XML document, past its prolog (for a "not a feed" reason).
ROOT_ELEMENT = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)*"
    rb"<([A-Za-z_][\w.:-]*)",
    re.DOTALL | re.IGNORECASE,
)
GZIP_MAGIC = b"\x1f\x8b"
PERSON_ELEMENT = re.compile(
    rb"(<(?:[\w.-]+:)?(?:author|creator|contributor|publisher|managingEditor|webMaster|name|email)"
    rb"\b[^<>]*>(?:<!\[CDATA\[)?)([^<\]]{%d,})" % (MAX_PERSON_CHARS + 1)
)


@dataclass(frozen=True)
class ParsedFeed:
    """What one feed document yielded."""

    entries: tuple[FeedEntry, ...]
    bozo: bool
    bozo_error: str | None
    is_html: bool
    discovered_feed_url: str | None
    title: str | None = None
    version: str | None = None  # feedparser's name for the format, None when unknown
    entries_in_document: int = 0  # before de-duplication and truncation
    notes: tuple[str, ...] = ()
    declared_interval_s: float | None = None  # <ttl> / sy:updatePeriod, see cadence.py
    not_a_feed: str | None = None  # why, when no feed format was found (version None)


def parse_feed(
    content: bytes,
    *,
    base_url: str,
    source_id: str,
    fetched_at: datetime,
    content_type: str | None = None,
    max_entries: int = 500,
) -> ParsedFeed:
    """Parse feed bytes into at most ``max_entries`` normalised entries, newest first."""
    fetched_at = fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    if not content.strip():
        return ParsedFeed((), True, "empty document", False, None, not_a_feed="empty document")
    if looks_like_json(content, content_type):
        return _parse_json(content, base_url, source_id, fetched_at, max_entries)
    notes: list[str] = []
    content, nested = defuse_entity_expansion(content)
    if nested:
        notes.append("DOCTYPE with nested entity declarations removed (entity expansion)")
    content, defused = defuse_person_fields(content)
    if defused:
        notes.append(f"{defused} over-long author fields cut to {MAX_PERSON_CHARS} characters")
    content, items_before_prune = prune_items(content, max_entries * PRUNE_FACTOR)
    if items_before_prune is not None:
        notes.append(
            f"document cut before parsing: first {max_entries * PRUNE_FACTOR} "
            f"of {items_before_prune} items kept"
        )
    # Without a content type feedparser flags every document; assume XML when not told.
    headers = {"content-location": base_url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(
        io.BytesIO(content),
        response_headers=headers,
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    bozo = bool(parsed.get("bozo"))
    bozo_error = _describe(parsed.get("bozo_exception")) if bozo else None
    version = parsed.get("version") or None
    is_html = not version and looks_like_html(content, content_type)
    discovered = discover_feed_url(content, base_url) if is_html else None

    # No feed format, no entries: a <catalog><item> or a bare <channel> is not a feed.
    dates = FeedDateParser(parsed.feed.get("language"))
    raws = parsed.entries if version else ()
    entries = _entries(raws, base_url, source_id, fetched_at, max_entries, dates, notes)
    title = clean_text(html_to_text(parsed.feed.get("title", ""))) or None
    return ParsedFeed(
        entries=tuple(entries),
        bozo=bozo,
        bozo_error=bozo_error,
        is_html=is_html,
        discovered_feed_url=discovered,
        title=title,
        version=version,
        entries_in_document=items_before_prune or len(parsed.entries),
        notes=tuple(notes),
        declared_interval_s=declared_interval(parsed.feed),
        not_a_feed=None if version else not_a_feed_reason(content, bozo_error),
    )


def _parse_json(
    content: bytes, base_url: str, source_id: str, fetched_at: datetime, max_entries: int
) -> ParsedFeed:
    """A JSON body: a JSON Feed's items as entries, or why it is not one."""
    document = parse_json_feed(content, max_items=max_entries * PRUNE_FACTOR)
    if document.version is None:
        return ParsedFeed((), True, document.error, False, None, not_a_feed=document.error)
    notes: list[str] = []
    if document.items_in_document > len(document.items):
        notes.append(
            f"document cut before parsing: first {len(document.items)} "
            f"of {document.items_in_document} items kept"
        )
    dates = FeedDateParser(document.language)
    entries = _entries(document.items, base_url, source_id, fetched_at, max_entries, dates, notes)
    return ParsedFeed(
        entries=tuple(entries),
        bozo=False,
        bozo_error=None,
        is_html=False,
        discovered_feed_url=None,
        title=clean_text(html_to_text(document.title)) or None,
        version=document.version,
        entries_in_document=document.items_in_document,
        notes=tuple(notes),
    )


def _entries(
    raws: Any,
    base_url: str,
    source_id: str,
    fetched_at: datetime,
    max_entries: int,
    dates: FeedDateParser,
    notes: list[str],
) -> list[FeedEntry]:
    """Normalised, de-duplicated entries, newest first, at most ``max_entries``."""
    substantial = (raw for raw in raws if _has_substance(raw))
    entries, updates, shared = _unique_entries(
        normalise_entry(raw, base_url, source_id, fetched_at, dates) for raw in substantial
    )
    if updates:
        notes.append(f"{updates} entries with a repeated GUID and link dropped (newest kept)")
    if shared:
        notes.append(f"{shared} entries repeat another's GUID with their own link: kept")
    entries.sort(key=lambda entry: entry.published_at, reverse=True)
    if len(entries) > max_entries:
        notes.append(f"truncated: newest {max_entries} of {len(entries)} entries kept")
        entries = entries[:max_entries]
    return entries


def not_a_feed_reason(content: bytes, bozo_error: str | None) -> str:
    """Why feedparser found no feed format in ``content`` (for the failed poll)."""
    if content[:2] == GZIP_MAGIC:
        return "a gzip-compressed body sent without Content-Encoding: gzip"
    root = ROOT_ELEMENT.match(content[:PROLOG_BYTES])
    if root and not bozo_error:
        name = root[1].decode("ascii", errors="replace")
        return f"an XML document with root <{name}>, not RSS, Atom, RDF or JSON Feed"
    return bozo_error or "no RSS, Atom, RDF or JSON Feed document found"


def normalise_entry(
    raw: Any,
    base_url: str,
    source_id: str,
    fetched_at: datetime,
    dates: FeedDateParser | None = None,
) -> FeedEntry:
    """One feedparser entry as a :class:`FeedEntry` (absolute link, plain text, UTC date)."""
    link = absolute_link(raw.get("link"), base_url)
    raw_id = clean_text(str(raw.get("id") or ""))
    if not link and raw.get("guidislink") and raw_id:
        link = absolute_link(raw_id, base_url)
    title = clean_text(html_to_text(raw.get("title", "")))
    summary = _summary_text(raw)
    published, date_flag = entry_date(raw, fetched_at, dates)
    authors = _authors(raw)
    tags = _tags(raw)
    guid = raw_id or link or _content_guid(raw, title, summary, authors, tags)
    return FeedEntry(
        source_id=source_id,
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        published_at=published,
        date_flag=date_flag,
        authors=authors,
        tags=tags,
        source_url=_source_url(raw, base_url),
        published_offset_minutes=feed_offset(raw, published) if date_flag == "feed" else None,
    )


def entry_date(
    raw: Any, fetched_at: datetime, dates: FeedDateParser | None = None
) -> tuple[datetime, str]:
    """Published (else updated, else created) time; missing -> fetch time, future -> clamped.

    Each field is feedparser's parse of it, else (``dates`` given) the fallback's parse of
    its text: a date in Italian or Russian is read before an English ``updated`` is."""
    for key in ("published", "updated", "created"):
        when = _struct_time_utc(dict.get(raw, f"{key}_parsed"))  # plain lookup: no aliasing
        if when is None and dates is not None:
            when = dates.parse(dict.get(raw, key))
        if when is None:
            continue
        if when > fetched_at:
            return fetched_at, "future_clamped"
        return when, "feed"
    return fetched_at, "missing"


def _struct_time_utc(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _source_url(raw: Any, base_url: str) -> str | None:
    """RSS ``<source url="…">``: the publisher of an aggregated item (Google News)."""
    source = raw.get("source")
    href = source.get("href") if isinstance(source, dict) else None
    return absolute_link(href, base_url) or None


def absolute_link(link: object, base_url: str) -> str:
    """``link`` made absolute against ``base_url``; "" for non-http(s) (javascript:, data:)."""
    if not isinstance(link, str) or not link.strip():
        return ""
    try:
        absolute = urljoin(base_url, link.strip())
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return ""
    return absolute if scheme in ALLOWED_LINK_SCHEMES else ""


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: no tags, no scripts, entities decoded."""
    if not markup:
        return ""
    if "<" not in markup:
        return html.unescape(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    for element in list(root.iter(*DROPPED_TAGS)):
        element.drop_tree()
    for element in root.iter(*BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    return root.text_content()


def clean_text(text: str) -> str:
    """Valid UTF-8 text without control characters, spaces collapsed, paragraphs kept."""
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = CONTROL_CHARS.sub("", text)
    lines = (SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def looks_like_html(content: bytes, content_type: str | None) -> bool:
    """True for an HTML page (by Content-Type or by its opening markup; an XML document
    whose root is not ``<html>``, ``<head>`` or ``<body>`` is not one, whatever it holds)."""
    if content_type and "html" in content_type.lower() and "xhtml" not in content_type.lower():
        return True
    root = ROOT_ELEMENT.match(content[:PROLOG_BYTES])
    if root and root[1].lower() not in (b"html", b"head", b"body"):
        return False
    return bool(HTML_SNIFF.search(content[:4096]))


def discover_feed_url(content: bytes, base_url: str) -> str | None:
    """The first feed URL an HTML page advertises (``<link rel=alternate>``, then links)."""
    try:
        page = content.decode("utf-8", errors="replace")
        domain = urlsplit(base_url).hostname or ""
        found = determine_feed(page, FeedParameters(base_url, domain, base_url))
    except Exception:  # discovery is a hint; a broken page must not fail the poll
        return None
    return found[0] if found else None


def defuse_entity_expansion(content: bytes) -> tuple[bytes, bool]:
    """Drop a DOCTYPE internal subset that defines entities through other entities."""
    prolog = content[:PROLOG_BYTES]
    if b"<!ENTITY" not in prolog or not NESTED_ENTITY.search(prolog):
        return content, False
    match = INTERNAL_SUBSET.search(prolog)
    if match is None:
        return content, False
    return content[: match.start()] + content[match.end() :], True


def defuse_person_fields(content: bytes) -> tuple[bytes, int]:
    """Cut the text of author-like elements to MAX_PERSON_CHARS; return it and the count."""
    count = 0

    def cut(match: re.Match[bytes]) -> bytes:
        nonlocal count
        count += 1
        return match[1] + match[2][:MAX_PERSON_CHARS]

    return PERSON_ELEMENT.sub(cut, content), count


def prune_items(content: bytes, keep: int) -> tuple[bytes, int | None]:
    """Cut a document with more than ``keep`` items after the ``keep``-th one.

    The document's own closing tags (everything after its last item) are kept, so a
    well-formed feed stays well-formed. Returns the content and the original item count
    (None when nothing was cut).
    """
    closers = (b"</item>", b"</entry>")
    total = sum(content.count(closer) for closer in closers)
    if total <= keep:
        return content, None
    closer = max(closers, key=content.count)
    cut = -1
    for _ in range(keep):
        cut = content.find(closer, cut + 1)
    tail_start = content.rfind(closer) + len(closer)
    if cut < 0 or len(content) - tail_start > MAX_TAIL_BYTES:
        return content, None
    return content[: cut + len(closer)] + content[tail_start:], total


def _has_substance(raw: Any) -> bool:
    """False for an entry with no id, title, link or text (a fragment of broken markup)."""
    return any(dict.get(raw, key) for key in ("id", "title", "link", "summary", "content"))


def _summary_text(raw: Any) -> str:
    detail = raw.get("summary_detail") or {}
    value = raw.get("summary") or ""
    if not value and raw.get("content"):
        detail = raw["content"][0]
        value = detail.get("value", "")
    if detail.get("type") == "text/plain":
        return clean_text(value)
    return clean_text(html_to_text(value))


def _authors(raw: Any) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for author in raw.get("authors") or ():
        name = clean_text(str(author.get("name") or author.get("email") or ""))
        if name:
            names.setdefault(name, None)
    if not names and raw.get("author"):
        names.setdefault(clean_text(html_to_text(str(raw["author"]))), None)
    return tuple(name for name in names if name)


def _tags(raw: Any) -> tuple[str, ...]:
    terms: dict[str, None] = {}
    for tag in raw.get("tags") or ():
        term = clean_text(str(tag.get("term") or tag.get("label") or ""))
        if term:
            terms.setdefault(term, None)
    return tuple(terms)


def _content_guid(
    raw: Any, title: str, summary: str, authors: tuple[str, ...], tags: tuple[str, ...]
) -> str:
    """The identity of an item with neither GUID nor link: a hash of what it says.

    Two items differ when any of their title, text, dates, enclosures, authors or tags do
    (RSS 0.92 items often have a description only); the same item hashes the same each poll.
    """
    dates = [str(dict.get(raw, key) or "") for key in ("published", "updated", "created")]
    enclosures = [str(e.get("href") or "") for e in raw.get("enclosures") or () if e]
    parts = [title, summary, *dates, *enclosures, *authors, *tags]
    if not title and not summary and raw.get("content"):
        parts.append(str(raw["content"][0].get("value") or ""))
    text = "\x1f".join(parts)
    digest = hashlib.sha1(text.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    return f"sha1:{digest}"


def _unique_entries(entries: Any) -> tuple[list[FeedEntry], int, int]:
    """One entry per (GUID, link): a repeat is an update (the newest kept, the first of
    equals); a GUID repeated with another link is a distinct entry. Returns the entries in
    first-seen order, the updates dropped and the distinct entries that share a GUID."""
    by_key: dict[tuple[str, str], FeedEntry] = {}
    links_of_guid: dict[str, set[str]] = {}
    updates = 0
    for entry in entries:
        key = (entry.guid, entry.link)
        kept = by_key.get(key)
        if kept is not None:
            updates += 1
            if entry.published_at > kept.published_at:
                by_key[key] = entry
            continue
        by_key[key] = entry
        links_of_guid.setdefault(entry.guid, set()).add(entry.link)
    shared = sum(len(links) - 1 for links in links_of_guid.values())
    return list(by_key.values()), updates, shared


def _describe(exc: object) -> str | None:
    if exc is None:
        return None
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
