"""Date parsing and reconciliation of feed and page dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newswatch.core.records import FeedEntry
from newswatch.extractors.dates import date_from_url, parse_date, reconcile_date

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


def test_date_from_url_reads_path_dates() -> None:
    assert date_from_url("https://x.example/2024/10/16/2003825372") == datetime(
        2024, 10, 16, tzinfo=UTC
    )
    assert date_from_url("https://x.example/news/20240503-story") == datetime(
        2024, 5, 3, tzinfo=UTC
    )
    assert date_from_url("https://x.example/news/article-123456") is None


def test_reconcile_prefers_feed_then_page_then_stand_in() -> None:
    feed_time = datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    page_time = datetime(2026, 4, 29, 9, 0, tzinfo=UTC)
    dated = FeedEntry("s", "g", "https://x.example/a", "t", "", feed_time)
    undated = FeedEntry("s", "g", "https://x.example/a", "t", "", NOW, date_flag="missing")
    assert reconcile_date(dated, page_time, "page_meta") == (feed_time, "feed")
    assert reconcile_date(undated, page_time, "htmldate") == (page_time, "htmldate")
    assert reconcile_date(undated, None, None) == (NOW, "fallback")
    assert reconcile_date(None, None, None) == (None, None)
