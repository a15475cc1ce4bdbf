"""The shipped offline sample matches its ground truth (seeds/sample/EXPECTED.toml) through
our own parser and extractor, served by the real sample server."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from newswatch.core.settings import SAMPLE_DIR
from newswatch.extractors.feeds import parse_feed
from newswatch.extractors.pages import extract_article
from newswatch.sample import serve_sample

EXPECTED = tomllib.loads((SAMPLE_DIR / "EXPECTED.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sample() -> Iterator[tuple[str, httpx.Client]]:
    with serve_sample() as base, httpx.Client(timeout=10) as client:
        yield base, client


def test_sample_meets_its_size_promises() -> None:
    totals = EXPECTED["totals"]
    assert totals["pages"] >= 40
    assert totals["feeds"] >= 4
    assert totals["off_topic"] >= 1 and totals["syndicated"] >= 1
    dates = sorted(page["published"] for page in EXPECTED["pages"].values())
    span = datetime.fromisoformat(dates[-1]) - datetime.fromisoformat(dates[0])
    assert span.days >= 90
    assert len({page["outlet"] for page in EXPECTED["pages"].values()}) >= 4


@pytest.mark.parametrize("feed_id", sorted(EXPECTED["feeds"]))
def test_sample_feed_parses_as_expected(sample: tuple[str, httpx.Client], feed_id: str) -> None:
    base, client = sample
    feed = EXPECTED["feeds"][feed_id]
    url = f"{base}/{feed['path']}"
    response = client.get(url)
    parsed = parse_feed(
        response.content,
        base_url=url,
        source_id=feed_id,
        fetched_at=datetime.now(UTC),
        content_type=response.headers.get("content-type"),
    )
    if feed["well_formed"]:
        assert not parsed.bozo, parsed.bozo_error
        assert len(parsed.entries) == feed["items"]
    else:
        assert parsed.bozo and parsed.bozo_error
        assert len(parsed.entries) >= EXPECTED["oddities"]["broken_feed_min_entries"]
    assert all(entry.link.startswith(base + "/") for entry in parsed.entries)


def test_sample_pages_extract_with_expected_title_and_date(
    sample: tuple[str, httpx.Client],
) -> None:
    base, client = sample
    wrong = []
    for path, page in EXPECTED["pages"].items():
        url = f"{base}/{path}"
        response = client.get(url)
        article = extract_article(
            response.content, url=url, content_type=response.headers.get("content-type")
        )
        published = article.published_at.date().isoformat() if article.published_at else None
        if (article.status, article.title, published) != ("ok", page["title"], page["published"]):
            wrong.append((path, article.status, article.title, published))
        if len(article.text.split()) < 100:
            wrong.append((path, "short", len(article.text.split())))
    assert wrong == []
