"""Content identity and error pages, the pure parts: fingerprints, aliases, soft 404s and
the retry schedule, checked against the real corpus pages in ../shared/corpus."""

from __future__ import annotations

import gzip
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.extractors.dedup import signature, similarity
from newswatch.extractors.identity import (
    ALIAS_SIMILARITY,
    Seen,
    StoredBody,
    body_fingerprint,
    copy_of,
    find_alias,
    identity_of,
    is_dateline,
)
from newswatch.extractors.page_retry import (
    FIRST_RETRY,
    GIVE_UP_AFTER,
    MAX_ATTEMPTS,
    is_due,
    is_soft_404,
    next_failure,
    page_error,
)
from newswatch.extractors.pages import extract_article

NOW = datetime(2026, 7, 10, 6, 0, tzinfo=UTC)
BODY = "\n".join(
    [
        "When the Alabuga special economic zone opened near Yelabuga in 2006, its brochures "
        "promised car plants, chemical works and glass factories.",
        "Twenty years later the industrial park on the Kama River is best known abroad for "
        "the mass assembly of Geran-2 attack drones, Russia's version of the Shahed-136.",
        "Iran supplied designs, kits and engineers, and Russia supplied the factory floor, "
        "with a target of 6,000 finished drones by mid-2025.",
    ]
)


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> list[tuple[str, ExtractedArticle, bytes]]:
    pages = []
    for path in sorted((corpus_dir / "articles").rglob("*.html.gz")):
        html = gzip.decompress(path.read_bytes())
        url = f"https://example.org/{path.name.removesuffix('.html.gz')}"
        rel = str(path.relative_to(corpus_dir / "articles"))
        pages.append((rel, extract_article(html, url=url), html))
    assert len(pages) >= 290
    return pages


def publisher(rel: str) -> str | None:
    """``fundus/de/Taz_2023_04_28.html.gz`` -> ``Taz``; AEB pages have no known outlet."""
    parts = rel.split("/")
    return parts[2].rsplit("_", 3)[0] if parts[0] == "fundus" else None


def stored(rel: str, article: ExtractedArticle, source: str) -> StoredBody:
    ident = identity_of(article.text, article.title, article.status, signature(article.text))
    return StoredBody(
        article_id=rel,
        source_id=source,
        story_id=rel,
        title=article.title,
        body_hash=ident.body_hash if ident else None,
        signature=signature(article.text),
    )


# ---------------------------------------------------------------- what counts as "same"


def test_fingerprint_ignores_case_spacing_quotes_and_the_date_line() -> None:
    base = body_fingerprint(BODY)
    assert base is not None
    assert body_fingerprint(BODY.upper().replace(" ", "  ")) == base
    assert body_fingerprint(BODY.replace("'", "\u2019").replace("\n", "\n\n")) == base
    assert body_fingerprint("Updated 8 July 2026, 08:45\n" + BODY) == base
    assert body_fingerprint("Published: 2026-07-09 10:00 UTC\n" + BODY) == base
    assert body_fingerprint(BODY.replace("6,000", "7,000")) != base  # a changed figure


def test_datelines_are_short_date_only_paragraphs() -> None:
    assert is_dateline("Updated at 1:23 p.m.")
    assert is_dateline("12. Juli 2026, 14:05 Uhr")
    assert not is_dateline("June 9 -- Coral Sky Amphitheatre, West Palm Beach, FL")
    assert not is_dateline("By Leyla Hasanova")
    assert not is_dateline(BODY.splitlines()[0])


def test_no_two_corpus_pages_share_a_fingerprint(corpus: list) -> None:
    seen: dict[str | None, str] = {}
    clashes = []
    for rel, article, _ in corpus:
        fingerprint = body_fingerprint(article.text)
        if fingerprint in seen:
            clashes.append((seen[fingerprint], rel))
        seen[fingerprint] = rel
    assert clashes == []


def test_a_recrawl_with_new_boilerplate_is_an_alias_of_the_same_outlet_only(
    corpus: list,
) -> None:
    """The corpus holds one article fetched twice (taz 2023 and 2024: a donation appeal
    appended, the drop cap split): the same article for its outlet, a story elsewhere."""
    pages = {rel: article for rel, article, _ in corpus}
    old = pages["fundus/de/Taz_2023_04_28.html.gz"]
    new = pages["fundus/de/Taz_2024_10_23.html.gz"]
    assert old.text != new.text and body_fingerprint(old.text) != body_fingerprint(new.text)
    ident = identity_of(new.text, new.title, new.status, signature(new.text))
    assert ident is not None
    match = find_alias(ident, "taz", [stored("old", old, "taz")])
    assert match is not None and match.reason == "near_duplicate"
    assert ALIAS_SIMILARITY <= match.similarity < 1.0
    assert find_alias(ident, "other-outlet", [stored("old", old, "taz")]) is None


def test_different_articles_of_one_publisher_are_never_aliases(corpus: list) -> None:
    by_outlet: dict[str, list[tuple[str, ExtractedArticle]]] = {}
    for rel, article, _ in corpus:
        name = publisher(rel)
        if name:
            by_outlet.setdefault(name, []).append((rel, article))
    recrawl = {"fundus/de/Taz_2023_04_28.html.gz", "fundus/de/Taz_2024_10_23.html.gz"}
    wrong = []
    pairs = 0
    for name, pages in by_outlet.items():
        for (rel_a, a), (rel_b, b) in itertools.combinations(pages, 2):
            if {rel_a, rel_b} == recrawl:
                continue
            ident = identity_of(b.text, b.title, b.status, signature(b.text))
            if ident is None:
                continue
            pairs += 1
            if similarity(ident.signature, signature(a.text)) >= ALIAS_SIMILARITY:
                wrong.append((rel_a, rel_b))  # too similar even before the title check
            if find_alias(ident, name, [stored(rel_a, a, name)]):
                wrong.append((rel_a, rel_b))
    assert pairs >= 70
    assert wrong == []


def test_an_exact_copy_is_an_alias_and_short_or_paywalled_bodies_have_no_identity() -> None:
    sig = signature(BODY)
    ident = identity_of(BODY, "Alabuga", "ok", sig)
    assert ident is not None
    other_title = StoredBody("a1", "caspian", "s1", "A new headline", ident.body_hash, None, sig)
    match = find_alias(ident, "caspian", [other_title])
    assert match is not None and match.reason == "same_body" and match.article_id == "a1"
    assert identity_of(BODY, "Alabuga", "paywall", sig) is None
    assert identity_of("Subscribe to continue reading.", "Alabuga", "ok", sig) is None


# ---------------------------------------------------------------- error pages

SOFT_404_PAGES = {
    "wordpress": (
        "<html><head><title>Page not found &#8211; Caspian Ledger</title></head><body>"
        "<header><nav><a href='/'>Home</a><a href='/news'>News</a></nav></header>"
        "<main><h1>Oops! That page can&rsquo;t be found.</h1><p>It looks like nothing was "
        "found at this location. Maybe try one of the links below or a search?</p>"
        "<form><input name='s'></form></main><footer>&copy; 2026</footer></body></html>"
    ),
    "nginx-style": (
        "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found"
        "</h1></center><hr><center>nginx</center></body></html>"
    ),
    "german": (
        "<html><head><title>Seite nicht gefunden | Wolga-Monitor</title></head><body><main>"
        "<h1>Seite nicht gefunden</h1><p>Die angeforderte Seite existiert nicht oder wurde "
        "verschoben.</p></main></body></html>"
    ),
    "untitled": (
        "<html><head><title>Volga Monitor</title></head><body><main><p>Sorry, the page you "
        "are looking for could not be found.</p></main></body></html>"
    ),
}


def ok_fetch(url: str, body: bytes) -> PageFetch:
    return PageFetch(
        url,
        NOW,
        "ok",
        final_url=url,
        http_status=200,
        body=body,
        content_type="text/html; charset=utf-8",
    )


@pytest.mark.parametrize("name", sorted(SOFT_404_PAGES))
def test_soft_404_templates_are_failed_fetches(name: str) -> None:
    body = SOFT_404_PAGES[name].encode()
    url = f"https://example.org/{name}"
    error = page_error(ok_fetch(url, body), extract_article(body, url=url))
    assert error is not None and error.error_class == "soft_404", error


def test_no_real_corpus_page_is_judged_an_error_page(corpus: list) -> None:
    misjudged = []
    for rel, article, html in corpus:
        error = page_error(ok_fetch(article.url, html), article)
        if error is not None:
            misjudged.append((rel, error.error))
    assert misjudged == []


def test_a_headline_about_404_is_not_a_soft_404() -> None:
    assert not is_soft_404("404 drones downed over Odesa overnight", "Short text.")
    assert not is_soft_404("Missing tanker not found after search", "x" * 300)
    assert is_soft_404("Error 404 - Page not found", "")


def test_http_errors_and_empty_bodies_are_failed_fetches_robots_refusals_are_not() -> None:
    article = ExtractedArticle("https://e.org/a", "https://e.org/a", None, "", "fetch_failed")
    gone = PageFetch(
        "https://e.org/a", NOW, "error", http_status=404, error="HTTP 404", error_class="permanent"
    )
    assert page_error(gone, article) is not None
    empty = ok_fetch("https://e.org/a", b"  \n")
    assert page_error(empty, article).error_class == "empty"  # type: ignore[union-attr]
    robots = PageFetch(
        "https://e.org/a",
        NOW,
        "error",
        error="skipped: disallowed by robots.txt",
        error_class="permanent",
    )
    assert page_error(robots, article) is None


# ---------------------------------------------------------------- retry schedule

ENTRY = FeedEntry("src", "g1", "https://e.org/a?utm_source=x", "Title", "Summary", NOW)


def test_failed_pages_back_off_then_give_up_after_max_attempts() -> None:
    page = PageFetch(ENTRY.link, NOW, "error", http_status=404, error="HTTP 404")
    error = page_error(page, ExtractedArticle(ENTRY.link, ENTRY.link, None, "", "fetch_failed"))
    assert error is not None
    failure = next_failure(None, ENTRY, "https://e.org/a", page, error, NOW)
    assert (failure.attempts, failure.status) == (1, "pending")
    assert failure.next_attempt_at == NOW + FIRST_RETRY
    assert not is_due(failure, NOW) and is_due(failure, NOW + FIRST_RETRY)
    assert failure.entry() == ENTRY  # the feed item survives for later runs
    waits = [FIRST_RETRY]
    when = NOW
    while failure.status == "pending":
        assert failure.next_attempt_at is not None
        when = failure.next_attempt_at
        failure = next_failure(failure, ENTRY, "https://e.org/a", page, error, when)
        if failure.next_attempt_at:
            waits.append(failure.next_attempt_at - when)
    assert failure.status == "gave_up" and failure.next_attempt_at is None
    assert failure.attempts <= MAX_ATTEMPTS and when - NOW <= GIVE_UP_AFTER
    assert "gave up" in failure.error
    assert waits == sorted(waits) and max(waits) <= timedelta(hours=24)


def test_gone_gives_up_at_once_and_old_failures_give_up_by_age() -> None:
    gone = PageFetch(ENTRY.link, NOW, "error", http_status=410, error="HTTP 410")
    error = page_error(gone, ExtractedArticle(ENTRY.link, ENTRY.link, None, "", "fetch_failed"))
    assert error is not None
    assert next_failure(None, ENTRY, "u", gone, error, NOW).status == "gave_up"
    first = next_failure(None, ENTRY, "u", replace_status(gone, 503), error, NOW)
    late = next_failure(first, ENTRY, "u", replace_status(gone, 503), error, NOW + GIVE_UP_AFTER)
    assert (late.attempts, late.status) == (2, "gave_up")


def replace_status(page: PageFetch, status: int) -> PageFetch:
    from dataclasses import replace

    return replace(page, http_status=status, error=f"HTTP {status}")


def test_copy_of_prefers_the_canonical_url_then_the_same_source_body() -> None:
    sig = signature(BODY)
    ident = identity_of(BODY, "Alabuga", "ok", sig)
    assert ident is not None
    body = StoredBody("a1", "caspian", "s1", "Alabuga", ident.body_hash, None, sig)
    seen = Seen({"a1", "a2"}, {"https://new.example/x": "a2"}, [body])
    assert copy_of("a2", "https://old.example/y", None, "any", seen).reason == "same_url"  # type: ignore[union-attr]
    by_alias = copy_of("a9", "https://new.example/x", None, "any", seen)
    assert by_alias is not None and by_alias.article_id == "a2"
    by_body = copy_of("a9", "https://elsewhere/z", ident, "caspian", seen)
    assert by_body is not None and (by_body.article_id, by_body.reason) == ("a1", "same_body")
    assert copy_of("a9", "https://elsewhere/z", ident, "steppe-herald", seen) is None  # syndication
    assert copy_of("a9", "https://elsewhere/z", None, "caspian", seen) is None
