"""Error pages: which fetched pages are not articles, and when to fetch them again.

A page is a **failed fetch**, never an article, when

- the fetch failed: HTTP 4xx/5xx, a network error, a refused address, an oversized body
  (``PageFetch.status == "error"``) — except a robots.txt refusal, which is not an error
  page but a decision not to fetch (the feed's own title and summary are stored, as before);
- it answered 200 with an empty body; or
- it is a **soft 404**: a 200 whose title (or one ``|``/``-`` segment of it) is only
  "404"/"Page not found"/"Error 404 - Not Found" and whose text is short
  (under ``SOFT_404_TITLE_CHARS``), or whose short text (under ``SOFT_404_TEXT_CHARS``)
  opens with a not-found sentence. Conservative on purpose: none of the 297 real corpus
  pages (``../shared/corpus/articles``) is judged a soft 404 (``tests/test_page_failures.py``
  checks every one), so a real article titled "404 drones downed" is kept.

A failed page is fetched again on later runs (a page often goes live after its feed item
appears): the first retry ``FIRST_RETRY`` after the failure, each next one ``BACKOFF``
times later, at most ``MAX_RETRY_INTERVAL`` apart. The page is given up after
``MAX_ATTEMPTS`` fetches or ``GIVE_UP_AFTER`` since its first failure, whichever comes
first, and at once on ``410 Gone``. A given-up page is skipped like a stored one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFailureRecord, PageFetch

FIRST_RETRY = timedelta(minutes=10)
BACKOFF = 3.0
MAX_RETRY_INTERVAL = timedelta(hours=24)
MAX_ATTEMPTS = 8
GIVE_UP_AFTER = timedelta(days=7)
MAX_RETRIES_PER_RUN = 500  # due retries fetched per run, longest waiting first

SOFT_404_TITLE_CHARS = 1000
SOFT_404_TEXT_CHARS = 500

_NOT_FOUND = (
    r"page not found|not found|page (?:does not|doesn't|cannot be|could not be) (?:exist|found)"
    r"|(?:(?:oops|sorry)\W+)?(?:(?:that|this|the) )?page (?:can[’']t|cannot|could not|couldn[’']t)"
    r" be found|no longer (?:exists|available)|(?:seite|artikel) nicht gefunden|nicht gefunden"
    r"|página no encontrada|page introuvable|pagina non trovata|страница не найдена"
    r"|сторінку не знайдено|сторінка не знайдена|صفحه (?:یافت|پیدا) نشد"
)
# a whole title segment ("404", "Error 404", "Page not found", "404 Not Found") — never a
# headline that merely contains the words ("404 drones downed over Odesa")
_TITLE_SEGMENT_404 = re.compile(
    rf"\W*(?:error\W*)?(?:404\W*(?:error\W*)?(?:{_NOT_FOUND})?|(?:{_NOT_FOUND}))\W*",
    re.IGNORECASE,
)
_TITLE_SEPARATOR = re.compile(r"\s+[|\-–—·:]+\s+|\s*::\s*")
_TEXT_404 = re.compile(
    rf"^\W*(?:(?:error\s*)?404\b|(?:sorry|oops)\W+(?:\w+\W+){{0,6}}?(?:page|find|found|exist)"
    rf"|we (?:can't|cannot|could not|couldn't) find"
    rf"|the page you (?:are looking for|requested|were looking for)|{_NOT_FOUND})",
    re.IGNORECASE,
)
_ROBOTS_REFUSAL = "skipped:"


@dataclass(frozen=True)
class PageError:
    error: str
    error_class: str  # transient | permanent | soft_404 | empty


def is_soft_404(title: str | None, text: str) -> bool:
    """A 200 page that is an error template (see the module docstring)."""
    stripped = text.strip()
    segments = _TITLE_SEPARATOR.split(title or "")
    if len(stripped) < SOFT_404_TITLE_CHARS and any(
        _TITLE_SEGMENT_404.fullmatch(segment) for segment in segments if segment.strip()
    ):
        return True
    return len(stripped) < SOFT_404_TEXT_CHARS and bool(_TEXT_404.match(stripped))


def page_error(page: PageFetch, article: ExtractedArticle) -> PageError | None:
    """Why this page is a failed fetch rather than an article; None when it is an article."""
    if page.status != "ok":
        error = page.error or (f"HTTP {page.http_status}" if page.http_status else "no body")
        if error.startswith(_ROBOTS_REFUSAL) and page.error_class == "permanent":
            return None  # robots.txt said no: keep the feed's own description
        return PageError(error, page.error_class or "transient")
    if page.body is None or not page.body.strip():
        return PageError(f"HTTP {page.http_status or 200} with an empty body", "empty")
    extracted = article.status in {"ok", "short"} and article.method != "feed_summary"
    if extracted and is_soft_404(article.title, article.text):
        title = (article.title or "").strip()[:80]
        return PageError(f"soft 404: HTTP {page.http_status or 200}, title {title!r}", "soft_404")
    return None


def next_failure(
    previous: PageFailureRecord | None,
    entry: FeedEntry,
    url: str,
    page: PageFetch,
    error: PageError,
    now: datetime,
) -> PageFailureRecord:
    """The failure record after one more failed fetch of ``url`` at ``now``."""
    attempts = (previous.attempts if previous else 0) + 1
    first = previous.first_failed_at if previous else now
    gone = page.http_status == 410
    give_up = gone or attempts >= MAX_ATTEMPTS or now - first >= GIVE_UP_AFTER
    wait = min(FIRST_RETRY * (BACKOFF ** (attempts - 1)), MAX_RETRY_INTERVAL)
    record = PageFailureRecord.from_entry(
        entry,
        url=url,
        http_status=page.http_status,
        error=error.error,
        error_class=error.error_class,
        attempts=attempts,
        first_failed_at=first,
        last_attempt_at=now,
        next_attempt_at=None if give_up else now + wait,
        status="gave_up" if give_up else "pending",
        final_url=page.final_url,
    )
    if give_up:
        why = "410 Gone" if gone else f"{attempts} attempts since {first:%Y-%m-%d %H:%M} UTC"
        record = replace(record, error=f"{error.error} (gave up: {why})")
    return record


def is_due(failure: PageFailureRecord, now: datetime) -> bool:
    """Fetch this page again now? (pending and its next attempt has come)."""
    return (
        failure.status == "pending"
        and failure.next_attempt_at is not None
        and failure.next_attempt_at <= now
    )


__all__ = [
    "FIRST_RETRY",
    "GIVE_UP_AFTER",
    "MAX_ATTEMPTS",
    "MAX_RETRIES_PER_RUN",
    "PageError",
    "is_due",
    "is_soft_404",
    "next_failure",
    "page_error",
]
