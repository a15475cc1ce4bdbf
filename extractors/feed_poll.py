"""What a feed poll's answer means: one HTTP response in, one ``FeedPoll`` record out.

The fetcher (``newswatch.extractors.http.Fetcher.poll_feed``) sends the conditional GET
and hands the answer here: a 304 is "not_modified" (only when validators were sent), an
error status or an empty body is an error record, and anything else is parsed by
``feeds.parse_feed`` on a thread of :class:`FeedParser` under a deadline (RSS, Atom and
RDF through feedparser, JSON Feed 1.0/1.1 through ``json_feed.py``). A body in none of
those formats is "not a feed" (permanent), with its reason: an HTML page (and the feed link
it advertises), plain XML (its root element), JSON that is not a JSON Feed, a gzip body
without its Content-Encoding, a document that does not parse. Items such a document
seemed to hold are not entries.

Nothing here touches the network; nothing raises for a bad feed except the errors the
fetcher turns into a record (``feed_error``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

from newswatch.core.errors import FetchError, PermanentFetchError, TransientFetchError
from newswatch.core.records import FeedPoll, FeedState, Source
from newswatch.core.settings import Settings
from newswatch.extractors.cadence import cache_lifetime
from newswatch.extractors.feeds import ParsedFeed, parse_feed

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, "
    "application/json;q=0.8, */*;q=0.5"
)


class FeedResponse(Protocol):
    """What a poll reads of the fetcher's ``Response`` (after redirects and retries)."""

    @property
    def status(self) -> int: ...
    @property
    def final_url(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def retry_after_s(self) -> float | None: ...
    @property
    def notes(self) -> tuple[str, ...]: ...


class FeedParser:
    """Runs ``parse_feed`` on a pool of ``settings.workers`` threads, each parse under
    ``settings.feed_parse_timeout``; ``close`` when done."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="feedparse")
        self._slots = asyncio.Semaphore(settings.workers)

    async def parse(self, content: bytes, **kwargs: Any) -> ParsedFeed:
        """parse_feed in a worker thread; the deadline starts when the parse starts.

        A thread cannot be killed: a parse past its deadline keeps its worker until it
        ends, and its slot is only freed then, so later parses are not starved unseen.
        """
        await self._slots.acquire()
        call = functools.partial(
            parse_feed, content, max_entries=self.settings.max_entries_per_feed, **kwargs
        )
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool, call)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            async with asyncio.timeout(self.settings.feed_parse_timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise PermanentFetchError(
                f"feed parse exceeded the {self.settings.feed_parse_timeout:g} s deadline"
            ) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def feed_record(
    source: Source,
    state: FeedState | None,
    response: FeedResponse,
    failure: FetchError | None,
    *,
    conditional: bool,
    fetched_at: datetime,
    parser: FeedParser,
) -> FeedPoll:
    """The record of one poll of ``source`` answered by ``response``.

    ``failure`` is the error the response's status means (``http.status_error``);
    ``conditional`` says whether the request carried validators. Validators the answer
    does not repeat are kept from ``state``.
    """
    base: dict[str, Any] = {
        "source_id": source.id,
        "url": source.url,
        "fetched_at": fetched_at,
        "http_status": response.status,
        "final_url": response.final_url,
        "etag": response.headers.get("etag") or (state.etag if state else None),
        "last_modified": response.headers.get("last-modified")
        or (state.last_modified if state else None),
        "retry_after_s": response.retry_after_s,
        "cache_lifetime_s": cache_lifetime(response.headers, fetched_at),
    }
    waited = response.notes
    if response.status == 304:
        if not conditional:
            raise TransientFetchError("HTTP 304 Not Modified to an unconditional request")
        return FeedPoll(status="not_modified", notes=waited, **base)
    if failure is not None:
        return FeedPoll(
            status="error",
            error=str(failure),
            error_class=error_class(failure),
            notes=waited,
            **base,
        )
    if not response.body.strip():
        error = f"empty response (HTTP {response.status}, no feed in the body)"
        return FeedPoll(status="error", error=error, error_class="transient", notes=waited, **base)
    content_type = response.headers.get("content-type")
    parsed = await parser.parse(
        response.body,
        base_url=response.final_url,
        source_id=source.id,
        fetched_at=fetched_at,
        content_type=content_type,
    )
    details: dict[str, Any] = {
        "bozo": parsed.bozo,
        "bozo_error": parsed.bozo_error,
        "discovered_feed_url": parsed.discovered_feed_url,
        "notes": (*waited, *parsed.notes),
        "declared_interval_s": parsed.declared_interval_s,
    }
    if parsed.is_html:
        found = parsed.discovered_feed_url
        hint = f"; the page links a feed: {found}" if found else "; no feed link found"
        media = _media_type(content_type)
        served = media if media and "html" in media else f"an HTML page served as {media}"
        error = f"not a feed ({served if media else 'HTML'}){hint}"
        return FeedPoll(status="error", error=error, error_class="permanent", **base, **details)
    if parsed.version is None:
        error = f"not a feed: {parsed.not_a_feed or 'no RSS, Atom, RDF or JSON Feed document'}"
        return FeedPoll(status="error", error=error, error_class="permanent", **base, **details)
    return FeedPoll(status="ok", entries=parsed.entries, **base, **details)


def feed_error(source: Source, fetched_at: datetime, exc: FetchError) -> FeedPoll:
    """The record of a poll that raised ``exc`` (no usable answer)."""
    return FeedPoll(
        source_id=source.id,
        url=source.url,
        status="error",
        fetched_at=fetched_at,
        http_status=exc.status,
        error=str(exc),
        error_class=error_class(exc),
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


def error_class(exc: FetchError) -> str:
    """A record's ``error_class`` for ``exc``: "transient" or "permanent"."""
    return "transient" if isinstance(exc, TransientFetchError) else "permanent"


def _media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


__all__ = ["FEED_ACCEPT", "FeedParser", "FeedResponse", "error_class", "feed_error", "feed_record"]
