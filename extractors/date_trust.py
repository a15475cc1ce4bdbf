"""How far to trust an article's publication date: a confidence per method and a flag
for dates that cannot be right (in the future, before 1995, before the outlet's first
article). A flagged date is kept as found but should not be trusted by trend queries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newswatch.core.records import ExtractedArticle, FeedEntry

# feed and page metadata carry the publisher's own timestamp; htmldate guesses from the
# page text; a URL gives a day without time; fallback is our fetch time, not a publication
CONFIDENCE_BY_METHOD: dict[str, str] = {
    "feed": "high",
    "page_meta": "high",
    "htmldate": "medium",
    "url": "medium",
    "fallback": "low",
}
# The one plausibility window for publication dates: dates.parse_date refuses what lies
# outside it, date_flag flags it. Nothing on the web was published before 1995.
EARLIEST_PLAUSIBLE = datetime(1995, 1, 1, tzinfo=UTC)
# How far ahead of our clock a date may be and still be real: UTC offsets span 26 h
# (UTC+14 to UTC-12), so a local time mislabelled as UTC can be up to 26 h "ahead"; 10 h more
# covers clock skew and stamps set a little before an embargo lifts. A date further ahead is
# a typo (wrong year or month), not a time zone. (Was 2 days in dates.py, 36 h here.)
FUTURE_TOLERANCE = timedelta(hours=36)


def date_confidence(method: str | None) -> str:
    """``high`` | ``medium`` | ``low`` for a date found by ``method`` (unknown: low)."""
    return CONFIDENCE_BY_METHOD.get(method or "", "low")


def date_flag(
    published_at: datetime | None,
    seen_at: datetime,
    outlet_first_at: datetime | None = None,
) -> str | None:
    """``future`` | ``too_old`` | ``before_outlet`` when the date is implausible, else None.

    ``seen_at`` is when we fetched the article; ``outlet_first_at`` the earliest trusted
    date stored for the outlet, when known.
    """
    if published_at is None:
        return None
    if published_at > seen_at + FUTURE_TOLERANCE:
        return "future"
    if published_at < EARLIEST_PLAUSIBLE:
        return "too_old"
    if outlet_first_at is not None and published_at < outlet_first_at - timedelta(days=1):
        return "before_outlet"
    return None


def stored_offset(article: ExtractedArticle, entry: FeedEntry | None) -> int | None:
    """The UTC offset to store with ``article``'s date: the one its date's source declared;
    for a feed date on a page that gave none (or no page: a failed fetch), the feed's."""
    if article.published_offset_minutes is not None:
        return article.published_offset_minutes
    if article.date_method == "feed" and entry is not None:
        return entry.published_offset_minutes
    return None
