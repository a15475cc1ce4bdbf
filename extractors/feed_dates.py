"""A feed date feedparser could not read (``mer, 16 nov 2022 10:00:00 +0100``) -> UTC.

feedparser knows English day and month names only. This fallback gives dateparser the
date string with the feed's declared ``<language>`` first, then the languages the topic is
written in: the catalogue's and the seeds' (en, ru, uk, fa, ar), the issue's Italian, and
the other European languages its outlets and the corpus feeds use (de, fr, es, pt, tr).

Only absolute dates with a day, a month and a year are accepted ("yesterday" and "12" are
not), times without a zone are UTC, and years before 1990 are refused (a Persian-calendar
year read as Gregorian). dateparser keeps shared state that is not thread-safe (its issues
#441, #813) and feeds are parsed on a thread pool, so calls are serialised by one lock; the
parse holds the GIL either way. A feed whose dates keep failing stops being retried after
``MAX_FAILURES`` misses, so a hostile feed cannot spend its parse deadline here.

feedparser (and this fallback) give the instant in UTC; ``declared_offset`` reads the UTC
offset the date string itself states (``+0100``, ``-05:00``, ``EST``, ``Z``/``GMT`` = 0), kept
only when the string's time in that offset is the instant that was parsed (``-0000`` and
strings without a zone declare none).
"""

from __future__ import annotations

import functools
import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

TOPIC_LANGUAGES = ("en", "ru", "uk", "fa", "ar", "it", "de", "fr", "es", "pt", "tr")
MAX_DATE_CHARS = 80
MAX_FAILURES = 10  # per feed: misses after which the fallback is no longer tried
EARLIEST_YEAR = 1990
SETTINGS = {
    "TIMEZONE": "UTC",
    "TO_TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
    "PREFER_DATES_FROM": "past",
    "REQUIRE_PARTS": ["day", "month", "year"],
    "PARSERS": ["absolute-time"],
}
_HAS_DIGIT_AND_LETTER = re.compile(r"(?=.*\d)(?=.*[^\W\d_])", re.DOTALL)
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}")
_LOCK = threading.Lock()
_TRAILING_OFFSET = re.compile(r"(?:\b(?:GMT|UTC|UT)|(?<=\d)Z|([+-])(\d{2}):?(\d{2}))$", re.I)
DATE_KEYS = ("published", "updated", "created")  # feeds.entry_date's order
MAX_OFFSET = timedelta(hours=14)


class FeedDateParser:
    """The fallback for one feed document: its declared language first, a failure budget."""

    def __init__(self, declared_language: object = None) -> None:
        self.languages = _languages(declared_language)
        self.failures = 0
        self._parser: Any = None  # made at the first date that needs it

    def parse(self, text: object) -> datetime | None:
        """``text`` as an aware UTC datetime, or None when it is not a full absolute date."""
        if not isinstance(text, str) or self.failures >= MAX_FAILURES:
            return None
        text = " ".join(text.split())
        if not text or len(text) > MAX_DATE_CHARS or not _HAS_DIGIT_AND_LETTER.match(text):
            return None
        if self._parser is None:
            self._parser = _date_parser(self.languages)
        when = _parse(self._parser, text)
        if when is None:
            self.failures += 1
        return when


def _languages(declared: object) -> tuple[str, ...]:
    """The declared language's primary subtag (``it-IT`` -> ``it``) first, if known."""
    if isinstance(declared, str):
        match = _LANGUAGE_TAG.match(declared.strip())
        if match and match[0].lower() in _known_languages():
            first = match[0].lower()
            return (first, *(lang for lang in TOPIC_LANGUAGES if lang != first))
    return TOPIC_LANGUAGES


@functools.cache
def _known_languages() -> frozenset[str]:
    # 0.2 s to import: only when a date needs it. dateparser ships no type information
    # (no py.typed, no stubs installed), so its names are Any here.
    from dateparser.languages.loader import default_loader  # type: ignore[import-untyped]

    return frozenset(default_loader.get_locale_map())


def _date_parser(languages: tuple[str, ...]) -> Any:
    """One per feed document (cheap: the locales load once per process). The locale that
    read the feed's last date is tried first (3x faster on a feed of Italian dates), and
    only within this feed, so one feed's language never decides another's dates."""
    from dateparser.date import DateDataParser  # type: ignore[import-untyped]  # as above

    return DateDataParser(languages=list(languages), settings=SETTINGS, try_previous_locales=True)


def _parse(parser: Any, text: str) -> datetime | None:
    with _LOCK:
        try:
            found = parser.get_date_data(text).date_obj
        except (ValueError, TypeError, OverflowError, IndexError, KeyError, AttributeError):
            return None
    if not isinstance(found, datetime) or found.year < EARLIEST_YEAR:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def feed_offset(raw: Any, instant: datetime) -> int | None:
    """The UTC offset (minutes) declared by the entry's date string that gave ``instant``
    (published, else updated, else created), or None when it declares none."""
    for key in DATE_KEYS:
        offset = declared_offset(dict.get(raw, key) if isinstance(raw, dict) else None, instant)
        if offset is not None:
            return offset
    return None


def declared_offset(text: object, instant: datetime) -> int | None:
    """The UTC offset ``text`` states, in minutes, if ``text`` is ``instant`` written in it."""
    if not isinstance(text, str) or len(text) > MAX_DATE_CHARS:
        return None
    text = " ".join(text.split())
    stated = _aware(text)
    if stated is not None:
        offset = stated.utcoffset()
        same = stated.replace(microsecond=0) == instant.replace(microsecond=0)
        return int(offset.total_seconds() // 60) if offset is not None and same else None
    match = _TRAILING_OFFSET.search(text)  # a date only dateparser read (another language)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes)) if sign else timedelta(0)
    delta = -delta if sign == "-" else delta
    if delta > MAX_OFFSET or -delta > MAX_OFFSET or (sign == "-" and not delta):
        return None
    local = instant.astimezone(UTC) + delta
    return int(delta.total_seconds() // 60) if f"{local:%H:%M}" in text else None


def _aware(text: str) -> datetime | None:
    """``text`` as RFC 2822 or ISO 8601 with a stated offset (None: unreadable or naive)."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        candidate = text[:-1] + "+00:00" if text[-1:] in "zZ" else text
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else None


__all__ = ["TOPIC_LANGUAGES", "FeedDateParser", "declared_offset", "feed_offset"]
