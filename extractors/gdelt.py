"""GDELT DOC 2.0 API article lists (``kind = "gdelt"``) -> the same ``FeedEntry`` records as a feed.

A source's URL is a DOC API query (``https://api.gdeltproject.org/api/v2/doc/doc?query=…``)
in article-list mode. What this module assumes of the API, from GDELT's DOC 2.0
announcement (blog.gdeltproject.org/gdelt-doc-2-0-api-debuts) and its answers as clients
see them:

- ``mode=ArtList`` with ``format=json`` answers ``{"articles": [{"url", "url_mobile",
  "title", "seendate", "socialimage", "domain", "language", "sourcecountry"}, …]}``;
  ``seendate`` is when GDELT saw the article, ``YYYYMMDDTHHMMSSZ`` in UTC; ``domain`` the
  publisher's site (``reuters.com``); ``language`` and ``sourcecountry`` English names
  (``Russian``, ``Iran``). A query without matches answers ``{}`` (or an empty list).
- ``format=RSS`` answers an RSS 2.0 channel whose items carry the publisher's URL as
  ``<link>``/``<guid>``, a title and a ``<pubDate>``, but no domain, language or country:
  those entries are read by ``feeds.parse_feed`` and their publisher is the link's host
  (without a leading ``www.``, the form ``domain`` has in JSON).
- ``maxrecords`` is 1..250 (75 by default); ``timespan`` is a number and a unit: ``min``
  or ``minutes``, ``h``/``hours``, ``d``/``days``, ``w``/``weeks``, ``m``/``months`` (the
  API searches a rolling window of the last 3 months); ``startdatetime`` /
  ``enddatetime`` are ``YYYYMMDDHHMMSS``; ``sort`` is DateDesc, DateAsc, ToneDesc, ToneAsc
  or HybridRel. ``query_problem`` checks a source URL against these when the catalogue is
  loaded (``extractors/sources.py``), so a bad query fails there, not every poll.
- GDELT asks for at most one request every 5 seconds; past that it answers a plain-text
  "Please limit requests to one every 5 seconds …", with HTTP 429 or with 200. A query
  it cannot run is answered with a plain-text message and HTTP 200 ("The specified phrase
  is too short.", "Queries containing OR'd terms must be surrounded by ().", "Invalid
  query …").

What a poll does (``poll_sources``): the GDELT sources of a run are polled one at a time
per host, each request started at least ``MIN_GAP_S`` (5 s) after the previous one to that
host in this process, with no retries inside a poll (``Settings.retries`` is 0 for them: a
retry one second later would break the 5-second rule; the next poll is the retry). The
answer becomes one ``FeedPoll``:

- the rate-limit text (whatever its status) is a failed, transient poll whose ``error``
  says so (``GDELT rate limit: …``); the feed then backs off as any failed feed does
  (``feed_state.failure_delay``: 30 min doubling, or the Retry-After when later) and the
  host's gap doubles for the rest of the process (up to ``MAX_GAP_S``) until an answer
  that is not the rate-limit text;
- any other plain-text answer is a failed, permanent poll with GDELT's message as the
  reason, never a successful poll with 0 entries; a JSON body that is not an article list
  is a failed poll too;
- an empty article list (``{}``, ``{"articles": []}``) is a successful poll with 0 entries.

Each entry: ``link`` and ``guid`` the publisher's URL (``url``, else ``url_mobile``),
``title``, ``published_at`` the ``seendate`` (UTC; a missing one is the fetch time with
``date_flag`` "missing", a future one clamped), no declared offset (the time is GDELT's,
not the publisher's local time), and ``source_url`` ``https://<domain>``: the publisher,
which ``gnews.outlet_of`` turns into the article's outlet, the way a Google News item's
``<source url>`` is. ``FeedEntry`` has no language or country field: the language, mapped
from GDELT's English name to ISO 639-1 through babel's language names (``language_code``),
and the source country are kept as the entry's tags ``language:<code>`` and
``sourcecountry:<name>``.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from newswatch.core.errors import FetchError, TransientFetchError
from newswatch.core.records import FeedEntry, FeedPoll, FeedState, Source
from newswatch.core.settings import Settings

if TYPE_CHECKING:  # the poll's imports are the ingest stack's (httpx, feedparser): loaded
    # when a poll runs, so the catalogue check (extractors/sources.py) stays light
    from newswatch.extractors.feed_poll import FeedParser
    from newswatch.extractors.http import Fetcher, Response

KIND = "gdelt"
MIN_GAP_S = 5.0  # GDELT: "Please limit requests to one every 5 seconds"
MAX_GAP_S = 60.0  # the most a rate-limited host's gap grows to
MAX_RECORDS = 250
FORMATS = frozenset({"json", "rss"})
SORTS = frozenset({"datedesc", "dateasc", "tonedesc", "toneasc", "hybridrel"})
TIMESPAN = re.compile(r"^([1-9][0-9]*)(min|minutes?|h|hours?|d|days?|w|weeks?|m|months?)$")
DATETIME = re.compile(r"^[0-9]{14}$")
SEENDATE = "%Y%m%dT%H%M%SZ"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
RATE_LIMIT_TEXT = "limit requests to one every"
MESSAGE_CHARS = 300  # of GDELT's plain-text answer kept in the reason
ACCEPT = "application/json, application/rss+xml;q=0.9, application/xml;q=0.8, */*;q=0.5"
# GDELT's names babel spells otherwise (babel: "Persian", "Chinese", "Norwegian", …)
LANGUAGE_ALIASES = {"farsi": "fa", "mandarin": "zh", "hebrew": "he", "norwegian": "no"}


@dataclass(frozen=True)
class Article:
    """One item of a DOC API article list, as GDELT gives it (``language`` mapped)."""

    url: str
    title: str
    seen_at: datetime | None
    domain: str | None
    language: str | None  # ISO 639-1, None when GDELT's name is not known
    source_country: str | None


class NotAnArticleList(ValueError):
    """A JSON body that is not a DOC API article list; the message says why."""


@dataclass(frozen=True)
class Refusal:
    """GDELT's plain-text answer instead of a result: its message, the HTTP status, and
    whether it is the rate limit."""

    message: str
    rate_limited: bool
    status: int = 200

    @property
    def error(self) -> str:
        what = "rate limit" if self.rate_limited else "refused the query"
        http = f" (HTTP {self.status})" if self.status != 200 else ""
        return f"GDELT {what}{http}: {self.message}"

    @property
    def error_class(self) -> str:
        """A rate limit or a server error passes (transient); a bad query stays (permanent)."""
        return "transient" if self.rate_limited or self.status >= 500 else "permanent"


# ---------------------------------------------------------------------- pure parts


def query_problem(url: str) -> str | None:
    """Why ``url`` is not a DOC API article-list query within the documented limits, or None."""
    params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    if not params.get("query", "").strip():
        return "a GDELT DOC query needs a non-empty 'query' parameter"
    mode = params.get("mode", "artlist").lower()
    if mode != "artlist":
        return f"mode={params['mode']}: only mode=ArtList lists articles"
    fmt = params.get("format", "").lower()
    if fmt not in FORMATS:
        return f"format={params.get('format', '(none)')}: use format=json or format=RSS"
    if "maxrecords" in params:
        value = params["maxrecords"]
        if not value.isdigit() or not 1 <= int(value) <= MAX_RECORDS:
            return f"maxrecords={value}: GDELT returns 1 to {MAX_RECORDS} records"
    if "timespan" in params and not TIMESPAN.match(params["timespan"].lower()):
        return (
            f"timespan={params['timespan']}: a number and min, h, d, w or m "
            "(minutes, hours, days, weeks, months), e.g. 24h"
        )
    for key in ("startdatetime", "enddatetime"):
        if key in params and not DATETIME.match(params[key]):
            return f"{key}={params[key]}: GDELT wants YYYYMMDDHHMMSS"
    if "sort" in params and params["sort"].lower() not in SORTS:
        return f"sort={params['sort']}: one of DateDesc, DateAsc, ToneDesc, ToneAsc, HybridRel"
    return None


def refusal(body: bytes, status: int) -> Refusal | None:
    """GDELT's plain-text answer (a rate limit or a query error), else None: a body that
    opens like JSON or markup is a result (or a page the feed parser judges)."""
    text = body.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    rate_limited = RATE_LIMIT_TEXT in text.lower()
    if not rate_limited and (not text or text[0] in "{[<"):
        return None if status != 429 else Refusal("Too Many Requests", True, status)
    message = _one_line(re.sub(r"<[^>]*>", " ", text))[:MESSAGE_CHARS]
    return Refusal(message or "(empty answer)", rate_limited or status == 429, status)


def parse_articles(body: bytes) -> list[Article]:
    """The articles of a ``format=json`` article list; ``{}`` is none. Raises
    ``NotAnArticleList`` for JSON that is not one (a timeline, a list, broken JSON)."""
    try:  # strict=False: GDELT titles may hold raw control characters
        document = json.loads(body.decode("utf-8", errors="replace"), strict=False)
    except ValueError as exc:
        raise NotAnArticleList(f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise NotAnArticleList(f"a JSON {type(document).__name__}, not an article list")
    if not document:
        return []
    items = document.get("articles")
    if not isinstance(items, list):
        keys = ", ".join(sorted(document)[:5])
        raise NotAnArticleList(f"a JSON object without 'articles' (keys: {keys})")
    return [a for a in (_article(item) for item in items if isinstance(item, dict)) if a]


def seen_at(value: object) -> datetime | None:
    """A ``seendate`` (``20260101T120000Z``) as a UTC datetime, None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), SEENDATE).replace(tzinfo=UTC)
    except ValueError:
        return None


def language_code(name: object) -> str | None:
    """GDELT's English language name (``Russian``) as ISO 639-1 (``ru``); None if unknown."""
    if not isinstance(name, str) or not name.strip():
        return None
    key = name.strip().lower()
    return LANGUAGE_ALIASES.get(key) or _language_codes().get(key)


def publisher_domain(url: str) -> str | None:
    """The publisher's site of an article URL: its host without a leading ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def entries(
    articles: Sequence[Article], source_id: str, fetched_at: datetime, max_entries: int = 500
) -> list[FeedEntry]:
    """One entry per distinct article URL, newest first, at most ``max_entries``."""
    by_link: dict[str, FeedEntry] = {}
    for article in articles:
        if article.url not in by_link:
            by_link[article.url] = _entry(article, source_id, fetched_at)
    ordered = sorted(by_link.values(), key=lambda e: e.published_at, reverse=True)
    return ordered[:max_entries]


def with_publishers(feed_entries: Sequence[FeedEntry]) -> tuple[FeedEntry, ...]:
    """RSS entries (``format=RSS``: no domain field) with the link's site as publisher."""
    return tuple(
        replace(e, source_url=f"https://{domain}") if (domain := publisher_domain(e.link)) else e
        for e in feed_entries
    )


def _article(item: Mapping[str, Any]) -> Article | None:
    links = (item.get("url"), item.get("url_mobile"))
    url = next((v.strip() for v in links if isinstance(v, str) and _is_web_url(v)), None)
    if url is None:
        return None
    domain = item.get("domain")
    country = item.get("sourcecountry")
    return Article(
        url=url,
        title=_one_line(str(item.get("title") or "")),
        seen_at=seen_at(item.get("seendate")),
        domain=domain.strip().lower() if isinstance(domain, str) and domain.strip() else None,
        language=language_code(item.get("language")),
        source_country=country.strip() if isinstance(country, str) and country.strip() else None,
    )


def _entry(article: Article, source_id: str, fetched_at: datetime) -> FeedEntry:
    published, flag = article.seen_at or fetched_at, "feed" if article.seen_at else "missing"
    if published > fetched_at:
        published, flag = fetched_at, "future_clamped"
    domain = article.domain or publisher_domain(article.url)
    tags = (
        *((f"language:{article.language}",) if article.language else ()),
        *((f"sourcecountry:{article.source_country}",) if article.source_country else ()),
    )
    return FeedEntry(
        source_id=source_id,
        guid=article.url,
        link=article.url,
        title=article.title,
        summary="",
        published_at=published,
        date_flag=flag,
        tags=tags,
        source_url=f"https://{domain}" if domain else None,
    )


def _one_line(text: str) -> str:
    """Plain text on one line: entities decoded, control characters and runs of space gone."""
    return " ".join(CONTROL.sub(" ", html.unescape(text)).split())


def _is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@cache
def _language_codes() -> dict[str, str]:
    """English language name (lower case) -> ISO 639-1 code, from babel's CLDR names."""
    from babel import Locale  # loaded on the first article, not with the catalogue

    names = Locale("en").languages
    return {name.lower(): code for code, name in names.items() if len(code) == 2}


# ---------------------------------------------------------------------- network parts


class HostGaps:
    """When each host may be asked next: ``MIN_GAP_S`` after the previous start, doubled
    after each rate-limit answer (up to ``MAX_GAP_S``), reset by any other answer."""

    def __init__(self, gap: float = MIN_GAP_S) -> None:
        self.gap = gap
        self._next: dict[str, float] = {}
        self._gaps: dict[str, float] = {}

    def wait_s(self, host: str, now: float) -> float:
        return max(0.0, self._next.get(host, 0.0) - now)

    def started(self, host: str, now: float) -> None:
        self._next[host] = now + self._gaps.get(host, self.gap)

    def answered(self, host: str, rate_limited: bool, now: float) -> None:
        if rate_limited:
            self._gaps[host] = min(max(self._gaps.get(host, self.gap), self.gap) * 2, MAX_GAP_S)
            self._next[host] = max(self._next.get(host, 0.0), now + self._gaps[host])
        else:
            self._gaps.pop(host, None)


GAPS = HostGaps()  # the process's pacing of GDELT hosts (one poll loop at a time)


async def poll_sources(
    settings: Settings,
    sources: Sequence[Source],
    states: Mapping[str, FeedState],
    *,
    gaps: HostGaps | None = None,
) -> list[FeedPoll]:
    """Poll each GDELT source once: one request at a time per host, paced by ``gaps``
    (the process's ``GAPS`` by default), without retries; one record per source, in order."""
    from newswatch.extractors.feed_poll import FeedParser
    from newswatch.extractors.http import Fetcher

    if not sources:
        return []
    gaps = gaps or GAPS
    by_host: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        by_host.setdefault((urlsplit(source.url).hostname or "").lower(), []).append(index)
    polls: list[FeedPoll | None] = [None] * len(sources)
    single = replace(settings, retries=0)
    parser = FeedParser(single)
    try:
        async with Fetcher(single) as fetcher:

            async def host_loop(host: str, indexes: list[int]) -> None:
                for index in indexes:
                    await asyncio.sleep(gaps.wait_s(host, time.monotonic()))
                    gaps.started(host, time.monotonic())
                    source = sources[index]
                    poll = await _poll(fetcher, parser, source, states.get(source.id))
                    gaps.answered(host, _rate_limited(poll), time.monotonic())
                    polls[index] = poll

            await asyncio.gather(*(host_loop(h, ix) for h, ix in by_host.items()))
    finally:
        parser.close()
    return [p for p in polls if p is not None]


async def _poll(
    fetcher: Fetcher, parser: FeedParser, source: Source, state: FeedState | None
) -> FeedPoll:
    from newswatch.extractors.feed_poll import feed_error

    fetched_at = datetime.now(UTC)
    started = time.monotonic()
    try:
        response = await fetcher.get(source.url, headers={"Accept": ACCEPT})
        poll = await _record(source, state, response, parser, fetched_at)
    except FetchError as exc:
        poll = feed_error(source, fetched_at, exc)
    except Exception as exc:  # a bug must cost one source, not the run
        poll = feed_error(source, fetched_at, TransientFetchError(f"internal error: {exc!r}"))
    return replace(poll, elapsed_ms=(time.monotonic() - started) * 1000)


async def _record(
    source: Source,
    state: FeedState | None,
    response: Response,
    parser: FeedParser,
    fetched_at: datetime,
) -> FeedPoll:
    from newswatch.extractors.cadence import cache_lifetime
    from newswatch.extractors.feed_poll import feed_record
    from newswatch.extractors.http import status_error

    base: dict[str, Any] = {
        "source_id": source.id,
        "url": source.url,
        "fetched_at": fetched_at,
        "http_status": response.status,
        "final_url": response.final_url,
        "retry_after_s": response.retry_after_s,
        "cache_lifetime_s": cache_lifetime(response.headers, fetched_at),
        "notes": response.notes,
    }
    refused = refusal(response.body, response.status)
    if refused is not None:
        error, error_class = refused.error, refused.error_class
        return FeedPoll(status="error", error=error, error_class=error_class, **base)
    if response.body.lstrip()[:1] in (b"{", b"[") and 200 <= response.status < 300:
        try:
            articles = parse_articles(response.body)
        except NotAnArticleList as exc:
            error = f"not a GDELT article list: {exc}"
            return FeedPoll(status="error", error=error, error_class="permanent", **base)
        found = entries(articles, source.id, fetched_at, parser.settings.max_entries_per_feed)
        return FeedPoll(status="ok", entries=tuple(found), **base)
    poll = await feed_record(
        source,
        state,
        response,
        status_error(response),
        conditional=False,
        fetched_at=fetched_at,
        parser=parser,
    )
    return replace(poll, entries=with_publishers(poll.entries))


def _rate_limited(poll: FeedPoll) -> bool:
    return poll.http_status == 429 or (poll.error or "").startswith("GDELT rate limit")


__all__ = [
    "GAPS",
    "KIND",
    "MAX_RECORDS",
    "MIN_GAP_S",
    "Article",
    "HostGaps",
    "NotAnArticleList",
    "Refusal",
    "entries",
    "language_code",
    "parse_articles",
    "poll_sources",
    "publisher_domain",
    "query_problem",
    "refusal",
    "seen_at",
    "with_publishers",
]
