"""Date trust (confidence per method, implausible dates flagged) on real corpus pages, and
the run provenance (result-shaping settings, package versions) recorded with each run."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from newswatch.core.records import FeedEntry
from newswatch.core.settings import Settings
from newswatch.extractors.date_trust import date_confidence, date_flag
from newswatch.extractors.dates import parse_date
from newswatch.extractors.pages import extract_article
from newswatch.extractors.provenance import package_versions, settings_json
from newswatch.warehouse.sample import build_sample_db

SEEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def fundus_page(corpus_dir: Path, country: str, name: str) -> tuple[bytes, str, datetime]:
    folder = corpus_dir / "articles" / "fundus" / country
    meta = json.loads((folder / "meta.info").read_text(encoding="utf-8"))[f"{name}.html.gz"]
    publisher = name.rsplit("_", 3)[0]
    truths = json.loads((folder / f"{publisher}.json").read_text(encoding="utf-8"))
    pages = sorted(p.name for p in folder.glob(f"{publisher}_*.html.gz"))
    truth = list(truths.values())[pages.index(f"{name}.html.gz")]["publishing_date"]
    parsed = parse_date(truth, now=datetime(2100, 1, 1, tzinfo=UTC))
    assert parsed is not None
    body = gzip.decompress((folder / f"{name}.html.gz").read_bytes())
    return body, meta["url"], parsed


@pytest.mark.parametrize(
    ("country", "name", "method", "tolerance"),
    [
        ("at", "ORF_2024_11_22", "page_meta", timedelta(seconds=60)),
        ("de", "NTV_2025_12_12", "page_meta", timedelta(seconds=60)),
        ("de", "Merkur_2023_04_28", "htmldate", timedelta(seconds=60)),
        ("de", "BoersenZeitung_2024_10_23", "htmldate", timedelta(hours=24)),
    ],
)
def test_real_pages_get_the_expected_date_method(
    corpus_dir: Path, country: str, name: str, method: str, tolerance: timedelta
) -> None:
    body, url, truth = fundus_page(corpus_dir, country, name)
    article = extract_article(body, url=url)
    assert article.date_method == method
    assert article.published_at is not None
    assert abs(article.published_at - truth) <= tolerance
    assert date_flag(article.published_at, truth + timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("country", "name", "offset"),
    [
        ("es", "LaVanguardia_2026_07_11", 120),  # 00:50 local: the previous day in UTC
        ("kr", "MBN_2025_06_03", 540),
        ("tw", "TaipeiTimes_2024_10_15", 480),
    ],
)
def test_real_pages_keep_their_offset_and_so_their_local_day(
    corpus_dir: Path, country: str, name: str, offset: int
) -> None:
    body, url, truth = fundus_page(corpus_dir, country, name)
    article = extract_article(body, url=url)
    assert article.published_at == truth and article.published_at.tzinfo is UTC
    assert article.published_offset_minutes == offset
    local = article.published_at.astimezone(timezone(timedelta(minutes=offset)))
    assert local.date() != article.published_at.date()  # what storing UTC alone lost
    assert local.date() == _truth_local_day(corpus_dir, country, name)


def _truth_local_day(corpus_dir: Path, country: str, name: str) -> date:
    folder = corpus_dir / "articles" / "fundus" / country
    publisher = name.rsplit("_", 3)[0]
    truths = list(json.loads((folder / f"{publisher}.json").read_text(encoding="utf-8")).values())
    pages = sorted(p.name for p in folder.glob(f"{publisher}_*.html.gz"))
    return datetime.fromisoformat(truths[pages.index(f"{name}.html.gz")]["publishing_date"]).date()


def test_a_feed_date_wins_over_the_page_and_is_trusted(corpus_dir: Path) -> None:
    body, url, truth = fundus_page(corpus_dir, "at", "ORF_2024_11_22")
    entry = FeedEntry("orf", "g1", url, "t", "", truth + timedelta(minutes=5))
    article = extract_article(body, url=url, entry=entry)
    assert article.date_method == "feed"
    assert date_confidence(article.date_method) == "high"
    assert article.published_at == truth + timedelta(minutes=5)
    assert article.published_offset_minutes == 0  # ORF's metadata states its times in UTC
    body, url, truth = fundus_page(corpus_dir, "es", "LaVanguardia_2026_07_11")
    entry = FeedEntry("lv", "g2", url, "t", "", truth)
    article = extract_article(body, url=url, entry=entry)
    assert (article.date_method, article.published_offset_minutes) == ("feed", 120)


@pytest.mark.parametrize(
    ("method", "confidence"),
    [
        ("feed", "high"),
        ("page_meta", "high"),
        ("htmldate", "medium"),
        ("url", "medium"),
        ("fallback", "low"),
        (None, "low"),
    ],
)
def test_each_date_method_has_a_confidence(method: str | None, confidence: str) -> None:
    assert date_confidence(method) == confidence


def test_implausible_dates_are_flagged_plausible_ones_are_not() -> None:
    assert date_flag(SEEN + timedelta(days=3), SEEN) == "future"
    assert date_flag(SEEN + timedelta(hours=2), SEEN) is None  # time zones, not the future
    assert date_flag(datetime(1994, 12, 31, tzinfo=UTC), SEEN) == "too_old"
    outlet_start = datetime(2010, 5, 1, tzinfo=UTC)
    assert date_flag(datetime(2009, 1, 1, tzinfo=UTC), SEEN, outlet_start) == "before_outlet"
    assert date_flag(datetime(2012, 1, 1, tzinfo=UTC), SEEN, outlet_start) is None
    assert date_flag(None, SEEN) is None


def test_parsing_and_flagging_share_one_future_tolerance() -> None:
    """A date 35 h ahead is a time zone: parsed and not flagged; 37 h ahead is a typo:
    refused by parse_date and flagged by date_flag (dates.py used to allow 2 days)."""
    near = (SEEN + timedelta(hours=35)).isoformat()
    far = (SEEN + timedelta(hours=37)).isoformat()
    assert parse_date(near, now=SEEN) == SEEN + timedelta(hours=35)
    assert date_flag(SEEN + timedelta(hours=35), SEEN) is None
    assert parse_date(far, now=SEEN) is None
    assert date_flag(SEEN + timedelta(hours=37), SEEN) == "future"


def test_run_provenance_names_result_settings_and_package_versions() -> None:
    recorded = json.loads(settings_json(Settings(max_entries_per_feed=7)))
    assert recorded["max_entries_per_feed"] == 7 and "respect_robots" in recorded
    assert "db_path" not in recorded and "user_agent" not in recorded
    versions = json.loads(package_versions())
    assert versions["duckdb"] == duckdb.__version__.lstrip("v")
    assert set(versions) >= {"prefect", "duckdb", "trafilatura", "feedparser", "httpx"}


def test_the_sample_database_stores_a_date_method_and_confidence_for_every_article(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "sample.duckdb"
    build_sample_db(db_path)
    with duckdb.connect(str(db_path), read_only=True) as con:
        missing = con.execute(
            "SELECT count(*) FROM articles WHERE date_method IS NULL OR date_confidence IS NULL"
        ).fetchone()
        total = con.execute("SELECT count(*) FROM articles").fetchone()
    assert total is not None and total[0] > 0
    assert missing == (0,)
