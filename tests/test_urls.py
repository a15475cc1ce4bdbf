"""Canonical URLs: the unique key of an article."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newswatch.extractors.urls import article_id, canonical_url, normalise_url, registered_domain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://News.Example.COM:443/world/story?utm_source=rss&utm_medium=feed&id=7#top",
            "https://news.example.com/world/story?id=7",
        ),
        ("http://example.com:80/a?fbclid=abc&gclid=def", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("  https://example.com  ", "https://example.com/"),
        ("https://example.com/path#section-2", "https://example.com/path"),
    ],
)
def test_normalise_url_drops_tracking_fragment_default_port_and_host_case(
    raw: str, expected: str
) -> None:
    assert normalise_url(raw) == expected


def test_same_site_canonical_wins_over_fetched_url() -> None:
    assert (
        canonical_url(
            "https://www.example.co.uk/s?utm_campaign=x",
            html_canonical="https://amp.example.co.uk/news/story-1",
        )
        == "https://amp.example.co.uk/news/story-1"
    )


def test_relative_canonical_is_resolved_against_the_final_url() -> None:
    assert (
        canonical_url(
            "https://feeds.example.com/r/1",
            final_url="https://www.example.com/news/2026/story?ref=rss",
            html_canonical="/news/2026/story",
        )
        == "https://www.example.com/news/2026/story"
    )


def test_canonical_on_another_site_is_ignored_for_final_url() -> None:
    assert (
        canonical_url(
            "https://news.google.com/rss/articles/abc",
            final_url="https://www.outlet.example/world/iran-drones#comments",
            html_canonical="https://aggregator.example.net/copy/123",
        )
        == "https://www.outlet.example/world/iran-drones"
    )


@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)", "mailto:desk@example.com", "   ", "https://example.com/"]
)
def test_unusable_canonical_falls_back_to_fetched_url(bad: str) -> None:
    assert canonical_url("https://example.com/a", html_canonical=bad) == "https://example.com/a"


def test_two_spellings_of_one_article_share_an_id() -> None:
    first = canonical_url("https://EXAMPLE.com/a?utm_source=x#frag")
    second = canonical_url("https://example.com:443/a")
    assert article_id(first) == article_id(second)
    assert article_id(first) == hashlib.sha1(b"https://example.com/a").hexdigest()


def test_registered_domain_handles_public_suffixes_and_ips() -> None:
    assert registered_domain("https://www.bbc.co.uk/news") == "bbc.co.uk"
    assert registered_domain("http://127.0.0.1:8080/x") == "127.0.0.1"


@given(st.text(max_size=200), st.one_of(st.none(), st.text(max_size=100)))
def test_canonicalisation_never_raises(url: str, declared: str | None) -> None:
    result = canonical_url(url, html_canonical=declared)
    assert isinstance(result, str)
    assert normalise_url(result) == result or "://" not in result
