"""Publication dates: parse date strings, find a page's date, reconcile it with the feed's.

Order of trust for a page (``page_date``): explicit publication metadata (JSON-LD
``datePublished``, ``article:published_time`` and kin) -> htmldate's heuristics (markup and
text patterns, original date preferred over the last update) -> a date in the URL path.
``article_date`` then prefers the feed's date unless the feed flagged it as missing or
clamped (the page is not searched at all then: htmldate's answer would be thrown away), and
falls back to the entry's stand-in date (fetch time) when nothing else is known.

A date is a :class:`Stamp`: the instant (UTC) and the UTC offset its source declared
(``+02:00`` -> 120; None when it gave none: a bare day, a naive time, a URL), so the
publication day in the page's own offset (``Stamp.day``) survives storage in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple

import htmldate
from lxml.html import HtmlElement

from newswatch.core.records import FeedEntry
from newswatch.extractors.date_trust import EARLIEST_PLAUSIBLE, FUTURE_TOLERANCE

_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URL_DAY = re.compile(
    r"/((?:19|20)\d{2})[/-]?(0[1-9]|1[0-2])[/-]?(0[1-9]|[12]\d|3[01])(?:/|[-_]|$)"
)
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_SAME_TIME = timedelta(seconds=60)
_TIME = re.compile(r"\d:\d\d")  # a value that states a time of day, not a bare day

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


class Stamp(NamedTuple):
    """An instant and the UTC offset its source declared (minutes; None: none declared)."""

    at: datetime  # aware, UTC
    offset_minutes: int | None = None

    @property
    def local(self) -> datetime:
        """The instant in the declared offset (in UTC when none was declared)."""
        return local_time(self.at, self.offset_minutes)

    @property
    def day(self) -> date:
        """The publication day in the source's own offset."""
        return self.local.date()


class ArticleDate(NamedTuple):
    """What an article stores about its date: the instant, the declared offset, the method."""

    published_at: datetime | None
    method: str | None  # feed | page_meta | htmldate | url | fallback | None
    offset_minutes: int | None = None


def local_time(at: datetime, offset_minutes: int | None) -> datetime:
    """``at`` in the UTC offset of ``offset_minutes`` (UTC when None)."""
    if offset_minutes is None:
        return at.astimezone(UTC)
    return at.astimezone(timezone(timedelta(minutes=offset_minutes)))


def parse_stamp(value: object, *, now: datetime | None = None) -> Stamp | None:
    """An ISO 8601 / RFC 2822 string as a :class:`Stamp`, or None.

    Naive values are taken as UTC (offset None); values before 1995 or more than
    ``FUTURE_TOLERANCE`` (36 h) ahead of ``now`` are refused.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    parsed = _parse_iso_aware(text) or _leading_day(text) or _parse_rfc2822(text)
    if parsed is None:
        return None
    stamp = Stamp(_as_utc(parsed), offset_minutes(parsed))
    latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    if not EARLIEST_PLAUSIBLE <= stamp.at <= latest:
        return None
    return stamp


def parse_date(value: object, *, now: datetime | None = None) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO 8601 / RFC 2822 string, or None
    (``parse_stamp`` without the offset)."""
    stamp = parse_stamp(value, now=now)
    return stamp.at if stamp else None


def offset_minutes(value: datetime) -> int | None:
    """The UTC offset ``value`` carries, in minutes (None for a naive datetime)."""
    offset = value.utcoffset()
    return None if offset is None else int(offset.total_seconds() // 60)


def stamp_from_meta(tree: HtmlElement, json_ld_dates: Sequence[str]) -> Stamp | None:
    """The publication date the page's metadata states most completely: a time with its
    offset, else a time, else a bare day; among equals the first of the meta tags (in the
    order of ``PUBLISHED_META_NAMES``), JSON-LD ``datePublished``, ``itemprop`` elements.

    Meta tags come before JSON-LD as in htmldate (and so bare trafilatura). A naive time
    loses to one with an offset (pages write local time in a tag without saying so, beside
    a JSON-LD value that does), and a bare day to a time (often the print edition's day:
    junge Welt's pages carry the next morning's issue beside the evening's timestamp). A
    value said to be UTC yields to another with a non-zero offset showing the same clock
    time (local time labelled ``Z``: Kleine Zeitung, Publico) or the same instant (a UTC
    serialisation: the other names the page's zone). Measured in bench/dates."""
    best: tuple[int, Stamp] | None = None
    zoned: list[Stamp] = []
    for value in _meta_date_values(tree, json_ld_dates):
        parsed = parse_stamp(value)
        if parsed is None:
            continue
        rank = 0 if parsed.offset_minutes is not None else 1 if _TIME.search(value) else 2
        if rank == 0:
            zoned.append(parsed)
        elif best is None or rank < best[0]:
            best = (rank, parsed)
    if zoned:
        return _page_zone(zoned)
    return best[1] if best else None


def _page_zone(zoned: list[Stamp]) -> Stamp:
    first = zoned[0]
    if first.offset_minutes != 0:
        return first
    for other in zoned[1:]:
        if other.offset_minutes and (
            abs(other.at - first.at) <= _SAME_TIME
            or abs(other.local.replace(tzinfo=None) - first.local.replace(tzinfo=None))
            <= _SAME_TIME
        ):
            return other
    return first


def _meta_date_values(tree: HtmlElement, json_ld_dates: Sequence[str]) -> Iterator[str]:
    meta_values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        content = meta.get("content")
        if key in PUBLISHED_META_NAMES and content and key not in meta_values:
            meta_values[key] = content
    yield from (meta_values[name] for name in PUBLISHED_META_NAMES if name in meta_values)
    yield from json_ld_dates
    for element in tree.xpath('//*[@itemprop="datePublished"]'):
        value = element.get("datetime") or element.get("content")
        if value:
            yield value


def stamp_from_htmldate(tree: HtmlElement, url: str | None) -> Stamp | None:
    """htmldate's best guess for the original publication date (extensive search)."""
    found = htmldate.find_date(
        tree,
        url=url,
        extensive_search=True,
        original_date=True,
        outputformat="%Y-%m-%dT%H:%M:%S%z",
    )
    return parse_stamp(found)


def stamp_from_url(url: str | None) -> Stamp | None:
    """A date written in the URL path, e.g. ``/2024/05/03/`` or ``/20240503-``."""
    if not url:
        return None
    match = _URL_DAY.search(url)
    if not match:
        return None
    return parse_stamp("-".join(match.groups()))


def page_date(
    tree: HtmlElement, url: str | None, json_ld_dates: Sequence[str]
) -> tuple[Stamp | None, str | None]:
    """The page's publication date and how it was found: page_meta | htmldate | url."""
    found = stamp_from_meta(tree, json_ld_dates)
    if found:
        return found, "page_meta"
    found = stamp_from_htmldate(tree, url)
    if found:
        return found, "htmldate"
    found = stamp_from_url(url)
    if found:
        return found, "url"
    return None, None


def article_date(
    tree: HtmlElement, url: str | None, json_ld_dates: Sequence[str], entry: FeedEntry | None
) -> ArticleDate:
    """The article's date: the feed's when it is a real feed date, else the page's, else the
    entry's stand-in (fetch time, method ``fallback``).

    With a real feed date the page is not searched (htmldate, the URL): only its metadata is
    read, for the offset the page declares, and only when the feed's date declares none or
    UTC (a non-zero feed offset is the publisher's zone already)."""
    if entry is not None and entry.date_flag == "feed":
        offset = entry.published_offset_minutes
        if not offset:
            declared = stamp_from_meta(tree, json_ld_dates)
            if declared is not None and declared.offset_minutes is not None:
                offset = declared.offset_minutes
        return ArticleDate(_as_utc(entry.published_at), "feed", offset)
    page, method = page_date(tree, url, json_ld_dates)
    if page is not None:
        return ArticleDate(page.at, method, page.offset_minutes)
    published_at, method = reconcile_date(entry, None, None)
    return ArticleDate(published_at, method)


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
    parsed = _parse_iso_aware(text)
    return _as_utc(parsed) if parsed else None


def _parse_iso_aware(text: str | None) -> datetime | None:
    """``parse_iso`` keeping the stated offset (naive when none is stated)."""
    if not text or not text.strip():
        return None
    text = text.strip()
    candidate = text[:-1] + "+00:00" if text.endswith("Z") else text
    candidate = _COMPACT_OFFSET.sub(r"\1:\2", candidate) if "T" in candidate else candidate
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _leading_day(text: str) -> datetime | None:
    """The ``YYYY-MM-DD`` a longer page string starts with (``2024-04-22, 10:00 Uhr``)."""
    day = _ISO_DAY.match(text)
    if not day:
        return None
    try:
        return datetime(int(day[1]), int(day[2]), int(day[3]))
    except ValueError:
        return None


def _parse_rfc2822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
