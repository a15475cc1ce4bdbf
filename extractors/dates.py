"""Publication dates: parse date strings, find a page's date, reconcile it with the feed's.

Order of trust for a page (``page_date``): explicit publication metadata (JSON-LD
``datePublished``, ``article:published_time`` and kin) -> htmldate's heuristics (markup and
text patterns, original date preferred over the last update) -> a date in the URL path.
``reconcile_date`` then prefers the feed's date unless the feed flagged it as missing or
clamped, and falls back to the entry's stand-in date (fetch time) when nothing else is known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import htmldate
from lxml.html import HtmlElement

from newswatch.core.records import FeedEntry
from newswatch.extractors.date_trust import EARLIEST_PLAUSIBLE, FUTURE_TOLERANCE

_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URL_DAY = re.compile(
    r"/((?:19|20)\d{2})[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?:/|[-_]|$)"
)
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")

# meta tags that state when an article was first published (name or property, lower-case)
PUBLISHED_META_NAMES = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "parsely-pub-date",
    "sailthru.date",
    "pubdate",
    "publishdate",
    "publish-date",
    "publication_date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "date",
)


def parse_date(value: object, *, now: datetime | None = None) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO 8601 / RFC 2822 string, or None.

    Naive values are taken as UTC; values before 1995 or more than ``FUTURE_TOLERANCE``
    (36 h) ahead of ``now`` are refused.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parsed = parse_iso(text) or _leading_day(text) or _parse_rfc2822(text)
    if parsed is None:
        return None
    parsed = _as_utc(parsed)
    latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    if not EARLIEST_PLAUSIBLE <= parsed <= latest:
        return None
    return parsed


def date_from_meta(tree: HtmlElement, json_ld_dates: Sequence[str]) -> datetime | None:
    """The first plausible publication date stated in JSON-LD or meta tags."""
    for value in json_ld_dates:
        parsed = parse_date(value)
        if parsed:
            return parsed
    meta_values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if key in PUBLISHED_META_NAMES and content and key not in meta_values:
            meta_values[key] = content
    for name in PUBLISHED_META_NAMES:
        parsed = parse_date(meta_values.get(name))
        if parsed:
            return parsed
    for element in tree.xpath('//*[@itemprop="datePublished"]'):
        parsed = parse_date(element.get("datetime") or element.get("content"))
        if parsed:
            return parsed
    return None


def date_from_htmldate(tree: HtmlElement, url: str | None) -> datetime | None:
    """htmldate's best guess for the original publication date (extensive search)."""
    found = htmldate.find_date(
        tree,
        url=url,
        extensive_search=True,
        original_date=True,
        outputformat="%Y-%m-%dT%H:%M:%S%z",
    )
    return parse_date(found)


def date_from_url(url: str | None) -> datetime | None:
    """A date written in the URL path, e.g. ``/2024/05/03/`` or ``/20240503-``."""
    if not url:
        return None
    match = _URL_DAY.search(url)
    if not match:
        return None
    return parse_date("-".join(match.groups()))


def page_date(
    tree: HtmlElement, url: str | None, json_ld_dates: Sequence[str]
) -> tuple[datetime | None, str | None]:
    """The page's publication date and how it was found: page_meta | htmldate | url."""
    found = date_from_meta(tree, json_ld_dates)
    if found:
        return found, "page_meta"
    found = date_from_htmldate(tree, url)
    if found:
        return found, "htmldate"
    found = date_from_url(url)
    if found:
        return found, "url"
    return None, None


def reconcile_date(
    entry: FeedEntry | None, page: datetime | None, page_method: str | None
) -> tuple[datetime | None, str | None]:
    """Pick the article's date: the feed's when it is a real feed date, else the page's,
    else the entry's stand-in (fetch time, method ``fallback``)."""
    if entry is not None and entry.date_flag == "feed":
        return _as_utc(entry.published_at), "feed"
    if page is not None:
        return page, page_method
    if entry is not None:
        return _as_utc(entry.published_at), "fallback"
    return None, None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_iso(text: str | None) -> datetime | None:
    """An ISO 8601 / W3C datetime in UTC, or None: the one ISO parser (pages, sitemaps,
    backfill's --since). ``2026-06-03`` is that day's UTC midnight; ``Z`` and compact
    offsets (``+0200``) are read; naive times are taken as UTC. No plausibility window:
    ``parse_date`` adds that."""
    if not text or not text.strip():
        return None
    text = text.strip()
    candidate = text[:-1] + "+00:00" if text.endswith("Z") else text
    candidate = _COMPACT_OFFSET.sub(r"\1:\2", candidate) if "T" in candidate else candidate
    try:
        return _as_utc(datetime.fromisoformat(candidate))
    except ValueError:
        return None


def _leading_day(text: str) -> datetime | None:
    """The ``YYYY-MM-DD`` a longer page string starts with (``2024-04-22, 10:00 Uhr``)."""
    day = _ISO_DAY.match(text)
    if not day:
        return None
    try:
        return datetime(int(day[1]), int(day[2]), int(day[3]), tzinfo=UTC)
    except ValueError:
        return None


def _parse_rfc2822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
