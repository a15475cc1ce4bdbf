"""Date parsing (with the offset the source declared), the page metadata's choice of date,
and reconciliation of feed and page dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from lxml.html import HtmlElement, fromstring

from newswatch.core.records import FeedEntry
from newswatch.extractors import dates
from newswatch.extractors.dates import (
    Stamp,
    article_date,
    parse_date,
    parse_stamp,
    reconcile_date,
    stamp_from_meta,
    stamp_from_url,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-04-22T15:26:46.863186+00:00", datetime(2024, 4, 22, 15, 26, 46, 863186, UTC)),
        ("2024-04-22T17:26:46+0200", datetime(2024, 4, 22, 15, 26, 46, tzinfo=UTC)),
        ("2024-04-22T15:26:46Z", datetime(2024, 4, 22, 15, 26, 46, tzinfo=UTC)),
        ("2024-04-22", datetime(2024, 4, 22, tzinfo=UTC)),
        ("Mon, 22 Apr 2024 15:26:46 GMT", datetime(2024, 4, 22, 15, 26, 46, tzinfo=UTC)),
        ("2024-04-22 15:26", datetime(2024, 4, 22, 15, 26, tzinfo=UTC)),
    ],
)
def test_parse_date_reads_common_forms_as_utc(raw: str, expected: datetime) -> None:
    assert parse_date(raw, now=NOW) == expected


@pytest.mark.parametrize("raw", ["", "yesterday", "2099-01-01T00:00:00Z", "1970-01-01", None, 42])
def test_parse_date_refuses_junk_and_implausible_dates(raw: object) -> None:
    assert parse_date(raw, now=NOW) is None


def test_stamp_from_url_reads_path_dates_as_days_without_an_offset() -> None:
    assert stamp_from_url("https://x.example/2024/10/16/2003825372") == Stamp(
        datetime(2024, 10, 16, tzinfo=UTC), None
    )
    assert stamp_from_url("https://x.example/news/20240503-story") == Stamp(
        datetime(2024, 5, 3, tzinfo=UTC), None
    )
    assert stamp_from_url("https://x.example/news/article-123456") is None


@pytest.mark.parametrize(
    ("raw", "instant", "offset", "day"),
    [
        # past midnight locally, still the previous day in UTC: the day that was lost
        (
            "2024-04-23T00:30:00+02:00",
            datetime(2024, 4, 22, 22, 30, tzinfo=UTC),
            120,
            date(2024, 4, 23),
        ),
        (
            "2025-06-04T02:37:08+0900",
            datetime(2025, 6, 3, 17, 37, 8, tzinfo=UTC),
            540,
            date(2025, 6, 4),
        ),
        (
            "2024-04-22T20:30:00-05:00",
            datetime(2024, 4, 23, 1, 30, tzinfo=UTC),
            -300,
            date(2024, 4, 22),
        ),
        ("2024-04-22T22:30:00Z", datetime(2024, 4, 22, 22, 30, tzinfo=UTC), 0, date(2024, 4, 22)),
        (
            "Mon, 22 Apr 2024 23:30:00 +0530",
            datetime(2024, 4, 22, 18, tzinfo=UTC),
            330,
            date(2024, 4, 22),
        ),
        (
            "Mon, 22 Apr 2024 20:30:00 EST",
            datetime(2024, 4, 23, 1, 30, tzinfo=UTC),
            -300,
            date(2024, 4, 22),
        ),
        # no offset stated: None, and the day is the one written
        (
            "Mon, 22 Apr 2024 23:30:00 -0000",
            datetime(2024, 4, 22, 23, 30, tzinfo=UTC),
            None,
            date(2024, 4, 22),
        ),
        ("2024-04-22 23:30", datetime(2024, 4, 22, 23, 30, tzinfo=UTC), None, date(2024, 4, 22)),
        ("2024-04-22", datetime(2024, 4, 22, tzinfo=UTC), None, date(2024, 4, 22)),
        ("2024-04-22, 10:00 Uhr", datetime(2024, 4, 22, tzinfo=UTC), None, date(2024, 4, 22)),
    ],
)
def test_parse_stamp_keeps_the_declared_offset_and_the_local_day(
    raw: str, instant: datetime, offset: int | None, day: date
) -> None:
    stamp = parse_stamp(raw, now=NOW)
    assert stamp == Stamp(instant, offset)
    assert stamp is not None and stamp.at.tzinfo is UTC
    assert stamp.day == day
    assert parse_date(raw, now=NOW) == instant


def head(*tags: str, json_ld: str = "") -> HtmlElement:
    script = f'<script type="application/ld+json">{json_ld}</script>' if json_ld else ""
    return fromstring(f"<html><head>{''.join(tags)}{script}</head><body><p>x</p></body></html>")


def meta(name: str, content: str) -> str:
    return f'<meta property="{name}" content="{content}">'


def test_page_metadata_prefers_the_most_complete_statement() -> None:
    # meta tags before JSON-LD among equals (htmldate's order): WDR's DC.Date
    tree = head(meta("dc.date", "2023-11-07T07:30+01:00"))
    chosen = stamp_from_meta(tree, ["2023-11-06T18:19+01:00"])
    assert chosen == parse_stamp("2023-11-07T07:30+01:00")
    # a bare day (the print issue's) loses to a time: junge Welt
    tree = head(meta("date", "2024-04-26"))
    chosen = stamp_from_meta(tree, ["2024-04-25T19:30:04+02:00"])
    assert chosen is not None and chosen.day == date(2024, 4, 25) and chosen.offset_minutes == 120
    # a naive local time loses to a value with its offset
    tree = head(meta("date", "2026-07-08T05:00:07"))
    chosen = stamp_from_meta(tree, ["2026-07-08T03:00:07Z"])
    assert chosen == Stamp(datetime(2026, 7, 8, 3, 0, 7, tzinfo=UTC), 0)
    # local time labelled Z yields to the same clock time with its real offset
    tree = head(meta("article:published_time", "2025-06-30T15:59:00+00:00"))
    chosen = stamp_from_meta(tree, ["2025-06-30T15:59:30+02:00"])
    assert chosen == Stamp(datetime(2025, 6, 30, 13, 59, 30, tzinfo=UTC), 120)
    # a UTC serialisation yields to the same instant in the page's zone
    tree = head(meta("article:published_time", "2025-06-30T22:30:00Z"))
    chosen = stamp_from_meta(tree, ["2025-07-01T00:30:00+02:00"])
    assert chosen is not None and chosen.day == date(2025, 7, 1)
    # ... but a UTC value and another instant elsewhere: the UTC value stands
    tree = head(meta("article:published_time", "2025-06-30T10:00:00Z"))
    assert stamp_from_meta(tree, ["2025-06-29T08:00:00+02:00"]) == Stamp(
        datetime(2025, 6, 30, 10, tzinfo=UTC), 0
    )
    assert stamp_from_meta(head(), []) is None


def test_a_trusted_feed_date_never_searches_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_search(*args: object, **kwargs: object) -> str:
        raise AssertionError("htmldate searched a page whose feed date is kept")

    monkeypatch.setattr(dates.htmldate, "find_date", no_search)
    tree = head()  # no metadata: the page would go to htmldate
    feed_time = datetime(2026, 4, 30, 22, 30, tzinfo=UTC)
    dated = FeedEntry("s", "g", "https://x.example/2026/01/01/a", "t", "", feed_time)
    assert article_date(tree, dated.link, [], dated) == (feed_time, "feed", None)
    with pytest.raises(AssertionError, match="htmldate searched"):
        article_date(tree, dated.link, [], None)


def test_a_feed_date_takes_the_page_offset_unless_the_feed_states_its_zone() -> None:
    feed_time = datetime(2026, 4, 30, 22, 30, tzinfo=UTC)
    tree = head(meta("article:published_time", "2026-05-01T00:30:00+02:00"))
    undeclared = FeedEntry("s", "g", "https://x.example/a", "t", "", feed_time)
    in_utc = FeedEntry(
        "s", "g", "https://x.example/a", "t", "", feed_time, published_offset_minutes=0
    )
    zoned = FeedEntry(
        "s", "g", "https://x.example/a", "t", "", feed_time, published_offset_minutes=180
    )
    assert article_date(tree, None, [], undeclared) == (feed_time, "feed", 120)
    assert article_date(tree, None, [], in_utc) == (feed_time, "feed", 120)
    assert article_date(tree, None, [], zoned) == (feed_time, "feed", 180)
    assert article_date(head(), None, [], in_utc) == (feed_time, "feed", 0)
    page = article_date(tree, None, [], None)
    assert page == (datetime(2026, 4, 30, 22, 30, tzinfo=UTC), "page_meta", 120)


def test_reconcile_prefers_feed_then_page_then_stand_in() -> None:
    feed_time = datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    page_time = datetime(2026, 4, 29, 9, 0, tzinfo=UTC)
    dated = FeedEntry("s", "g", "https://x.example/a", "t", "", feed_time)
    undated = FeedEntry("s", "g", "https://x.example/a", "t", "", NOW, date_flag="missing")
    assert reconcile_date(dated, page_time, "page_meta") == (feed_time, "feed")
    assert reconcile_date(undated, page_time, "htmldate") == (page_time, "htmldate")
    assert reconcile_date(undated, None, None) == (NOW, "fallback")
    assert reconcile_date(None, None, None) == (None, None)
