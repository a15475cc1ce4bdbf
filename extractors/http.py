"""The fetch core: polite, bounded HTTP GETs for feeds, pages, robots.txt and sitemaps
(``Fetcher``), and one-off requests such as webhook POSTs (``Fetcher.send``).

What it guarantees, whatever the server does (knobs in ``Settings``):
- a total deadline per attempt (``asyncio.timeout`` around connect, every redirect hop
  and the whole streamed body), besides httpx's connect/read timeouts;
- a body cap counted on the raw stream *and* on the decoded bytes: the body is read raw
  and decompressed by ``newswatch.extractors.decoding`` (gzip/deflate) in pieces of at
  most 256 KiB, so a gzip bomb is stopped at the cap without ever holding more than one
  piece beyond it;
- redirects followed by hand (at most ``max_redirects``), each hop re-checked for its
  scheme (http/https only) and by the SSRF guard;
- the SSRF guard resolves each host, refuses non-public addresses unless allowed (before
  any connection: every hop is checked first), and the connection itself is opened by
  ``newswatch.extractors.transport``, which connects to the *checked* address (the same
  cached answer), so a second DNS answer cannot rebind the request to an internal
  address; the URL keeps its host name, so the Host header, TLS SNI and certificate
  checks are unchanged;
- retries with exponential backoff and jitter for connection errors, incomplete bodies,
  5xx and 429 (Retry-After honoured up to ``backoff_max``; beyond that, give up as
  transient with the Retry-After recorded); never for other 4xx;
- a Retry-After defers the resource that sent it (the record carries it; the feed's state
  then waits, ``newswatch.extractors.feed_state``), never the other feeds on its host. Only a 429
  (rate limiting is per client, so per host) also pauses the host for the rest of this
  fetcher's life, capped at ``max_host_pause`` seconds: other requests to that host wait
  at most that long in all, then go ahead, and their records say they waited;
- global and per-host concurrency limits; robots.txt (RFC 9309) per origin for pages;
- conditional GETs for feeds (the stored ETag / Last-Modified); what the answer means for
  the feed (parse, "not a feed", the ``FeedPoll``) is ``newswatch.extractors.feed_poll``.

Nothing here raises for a bad source or page: each call returns a record with status
"error", one clear ``error`` line and ``error_class`` transient|permanent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace as _replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import urljoin

import httpx

from newswatch.core.errors import FetchError, PermanentFetchError, TransientFetchError
from newswatch.core.records import FeedPoll, FeedState, PageFetch, Source
from newswatch.core.settings import Settings
from newswatch.extractors.decoding import BoundedDecoder, read_bounded
from newswatch.extractors.feed_poll import (
    FEED_ACCEPT,
    FeedParser,
    error_class,
    feed_error,
    feed_record,
)
from newswatch.extractors.robots import MAX_ROBOTS_BYTES, RobotsPolicy, policy_from_response
from newswatch.extractors.robots import unreachable_policy as robots_unreachable
from newswatch.extractors.ssrf import ALLOWED_SCHEMES, Resolver, resolve_checked, system_resolver
from newswatch.extractors.transport import GuardedTransport

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STASHED_LOCATION = "x-newswatch-location"
DNS_CACHE_SECONDS = 120.0  # answers and failures alike: a dead name is looked up once
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"

Clock = Callable[[], datetime]
Record = TypeVar("Record", FeedPoll, PageFetch)
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Response:
    """A fully read response (after redirects)."""

    url: str
    final_url: str
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    redirects: tuple[str, ...] = ()
    retry_after_s: float | None = None
    attempts: int = 1
    notes: tuple[str, ...] = ()  # e.g. "waited 60 s: example.org asked for a pause (429)"


@dataclass(frozen=True)
class Ask:
    """One request as the caller asked for it (the same for every attempt and hop)."""

    method: str
    url: str
    headers: Mapping[str, str]
    limit: int  # body cap in bytes
    truncate: bool  # an oversize body is cut at ``limit`` instead of refused
    content: bytes | None = None
    follow: bool = True  # follow redirects (each hop re-checked)


class RetryableFetchError(TransientFetchError):
    """A transient failure worth another attempt within the same call."""


@dataclass(frozen=True)
class HostPause:
    """A host's 429 Retry-After, as this fetcher honours it (capped)."""

    until: float  # monotonic time
    asked_s: float  # what the server asked for
    granted_s: float  # what the cap allowed


class Fetcher:
    """Polls feeds and fetches pages through one ``httpx.AsyncClient``.

    ``async with Fetcher(settings) as fetcher: polls = await fetcher.poll_feeds(...)``.
    ``transport`` and ``resolver`` exist for tests (a MockTransport, a fake DNS answer).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._resolver = resolver
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.max_connections)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._paused: dict[str, HostPause] = {}  # host -> its 429 pause (capped)
        self._dns: dict[tuple[str, int], tuple[asyncio.Future[list[str]], float]] = {}
        self._robots: dict[str, asyncio.Future[RobotsPolicy]] = {}
        self._feeds = FeedParser(settings)

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        limits = httpx.Limits(
            max_connections=s.max_connections, max_keepalive_connections=s.max_connections
        )
        self._client = httpx.AsyncClient(
            transport=self._transport or GuardedTransport(limits, self._resolve_host),
            timeout=httpx.Timeout(
                connect=s.connect_timeout,
                read=s.read_timeout,
                write=s.read_timeout,
                pool=s.total_timeout,
            ),
            follow_redirects=False,
            event_hooks={"response": [_stash_location]},
            trust_env=False,
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._feeds.close()

    # ----------------------------------------------------------------- public API

    async def poll_feeds(
        self, sources: Sequence[Source], states: Mapping[str, FeedState]
    ) -> list[FeedPoll]:
        """Poll every source concurrently (within the limits); one record per source."""
        polls = (self.poll_feed(source, states.get(source.id)) for source in sources)
        return list(await asyncio.gather(*polls))

    async def fetch_pages(self, urls: Sequence[str]) -> list[PageFetch]:
        """Fetch every URL concurrently (within the limits); one record per URL, in order."""
        return list(await asyncio.gather(*(self.fetch_page(url) for url in urls)))

    async def poll_feed(self, source: Source, state: FeedState | None) -> FeedPoll:
        """Conditional GET of one feed, parsed in a worker thread under a deadline."""
        fetched_at = self._clock()
        started = time.monotonic()
        try:
            poll = await self._poll_feed(source, state, fetched_at)
        except FetchError as exc:
            poll = feed_error(source, fetched_at, exc)
        except Exception as exc:  # a bug must cost one source, not the run
            poll = feed_error(source, fetched_at, TransientFetchError(_internal(exc)))
        return _with_elapsed(poll, started)

    async def fetch_page(self, url: str) -> PageFetch:
        """GET one article page (robots.txt honoured per settings)."""
        fetched_at = self._clock()
        started = time.monotonic()
        try:
            page = await self._fetch_page(url, fetched_at)
        except FetchError as exc:
            page = _page_error(url, fetched_at, exc)
        except Exception as exc:  # a bug must cost one page, not the run
            page = _page_error(url, fetched_at, TransientFetchError(_internal(exc)))
        return _with_elapsed(page, started)

    # ----------------------------------------------------------------- feeds and pages

    async def _poll_feed(
        self, source: Source, state: FeedState | None, fetched_at: datetime
    ) -> FeedPoll:
        validators = conditional_headers(state.etag, state.last_modified) if state else {}
        response = await self.get(source.url, headers={"Accept": FEED_ACCEPT, **validators})
        return await feed_record(
            source,
            state,
            response,
            status_error(response),
            conditional=bool(validators),
            fetched_at=fetched_at,
            parser=self._feeds,
        )

    async def _fetch_page(self, url: str, fetched_at: datetime) -> PageFetch:
        await self._preflight(url)  # a refused URL says so, not "robots.txt unavailable"
        if self.settings.respect_robots:
            refusal = await self._robots_refusal(url)
            if refusal:
                kind = "transient" if "unavailable" in refusal else "permanent"
                return PageFetch(
                    url=url,
                    fetched_at=fetched_at,
                    status="error",
                    error=f"skipped: {refusal}",
                    error_class=kind,
                )
        response = await self.get(url, headers={"Accept": PAGE_ACCEPT})
        failure = status_error(response)
        return PageFetch(
            url=url,
            fetched_at=fetched_at,
            status="ok" if failure is None else "error",
            final_url=response.final_url,
            http_status=response.status,
            content_type=response.headers.get("content-type"),
            body=response.body if failure is None else None,
            error=None if failure is None else str(failure),
            error_class=None if failure is None else error_class(failure),
            redirects=response.redirects,
            retry_after_s=response.retry_after_s,
        )

    # ----------------------------------------------------------------- robots.txt

    async def _robots_refusal(self, url: str) -> str | None:
        try:
            parsed = _checked_url(url)
        except FetchError:
            return None  # the page request itself reports the bad URL
        origin = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        task = self._robots.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load_robots(origin))
            task.add_done_callback(_retrieve)
            self._robots[origin] = task
        policy = await asyncio.shield(task)
        return policy.refusal(url, self.settings.user_agent)

    async def _load_robots(self, origin: str) -> RobotsPolicy:
        try:
            response = await self.get(
                origin + "/robots.txt", max_bytes=MAX_ROBOTS_BYTES, truncate=True
            )
        except FetchError as exc:
            return robots_unreachable(str(exc))
        return policy_from_response(response.status, response.body)

    # ----------------------------------------------------------------- HTTP core

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        truncate: bool = False,
    ) -> Response:
        """GET ``url`` with retries; any HTTP status comes back, transport failures raise.

        Raises ``TransientFetchError`` / ``PermanentFetchError`` with one clear message.
        With ``truncate`` an oversize body is cut at ``max_bytes`` instead of refused.
        """
        limit = self.settings.max_body_bytes if max_bytes is None else max_bytes
        attempts = self.settings.retries + 1
        notes: list[str] = []
        for attempt in range(1, attempts + 1):
            try:
                response = await self._request_once(
                    Ask("GET", url, headers or {}, limit, truncate), notes
                )
            except RetryableFetchError as exc:
                if attempt == attempts:
                    raise TransientFetchError(f"{exc} (after {attempt} attempts)", url=url) from exc
                await asyncio.sleep(self._backoff(attempt))
                continue
            response = _replace(response, attempts=attempt, notes=tuple(notes))
            if response.status != 429 and response.status < 500:
                return response
            if response.status == 429 and response.retry_after_s is not None:
                notes.append(self._pause_host(response.final_url, response.retry_after_s))
                response = _replace(response, notes=tuple(notes))
            delay = response.retry_after_s
            if delay is None:
                delay = self._backoff(attempt)
            if attempt == attempts or delay > self.settings.backoff_max:
                return response  # the resource's Retry-After travels in its record
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
        max_bytes: int = 64 * 1024,
    ) -> Response:
        """One request (e.g. a webhook POST) under the same guard: scheme and SSRF checks,
        checked-address dialling, total deadline, the answer's body cut at ``max_bytes``.

        No retries (the caller's outbox retries) and no redirects: a 3xx comes back as is,
        so a body is never re-sent to a host nobody checked for it.
        """
        ask = Ask(method, url, headers or {}, max_bytes, True, content=content, follow=False)
        return await self._request_once(ask, [])

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff_base * 2 ** (attempt - 1)
        return min(self.settings.backoff_max, base * random.uniform(0.5, 1.5))

    async def _request_once(self, ask: Ask, notes: list[str]) -> Response:
        """One attempt at ``ask`` (its redirects included) under the host's pause, the
        concurrency limits and the total deadline; waits it made go into ``notes``."""
        url = ask.url
        target = _checked_url(url)
        host = target.host.lower()
        total = self.settings.total_timeout
        budget = self.settings.max_host_pause
        waited = 0.0
        while True:
            waited = await self._wait_for_host(host, waited)
            # Host slot first: a request waiting for a busy host must not hold a global slot.
            async with self._host_slot(host), self._global:
                if waited < budget and self._pause_left(host) > 0:
                    continue  # paused while we queued: let the slots go, wait, come back
                if waited > 0:
                    notes.append(self._waited_note(host, waited))
                try:
                    async with asyncio.timeout(total):
                        return await self._follow(ask)
                except TimeoutError:
                    raise TransientFetchError(
                        f"timed out after {total:g} s (total deadline, body included)", url=url
                    ) from None

    async def _follow(self, ask: Ask) -> Response:
        assert self._client is not None, "use Fetcher as an async context manager"
        current = ask.url
        redirects: list[str] = []
        for _hop in range(self.settings.max_redirects + 1):
            await self._preflight(current)  # every hop: scheme and SSRF, before connecting
            target = _checked_url(current)
            request = self._client.build_request(
                ask.method, target, headers=ask.headers, content=ask.content
            )
            async with _translated(current):
                response = await self._client.send(request, stream=True)
                try:
                    if ask.follow and response.status_code in REDIRECT_STATUSES:
                        location = response.headers.get(STASHED_LOCATION)
                        if not location:
                            raise PermanentFetchError(
                                f"HTTP {response.status_code} redirect without a Location",
                                url=current,
                                status=response.status_code,
                            )
                        current = urljoin(current, location.strip())
                        redirects.append(current)
                        continue
                    body = await read_bounded(
                        response.aiter_raw(), response.headers, ask.limit, ask.truncate
                    )
                finally:
                    await response.aclose()
            return Response(
                url=ask.url,
                final_url=current,
                status=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                body=body,
                redirects=tuple(redirects),
                retry_after_s=parse_retry_after(response.headers.get("retry-after"), utc_now()),
            )
        raise PermanentFetchError(
            f"too many redirects ({self.settings.max_redirects})", url=ask.url
        )

    async def _preflight(self, url: str) -> None:
        """Raise the scheme or SSRF refusal for ``url`` without connecting anywhere."""
        target = _checked_url(url)
        port = target.port or (443 if target.scheme == "https" else 80)
        await self._resolve_host(target.raw_host.decode("ascii"), port)

    async def _resolve_host(self, host: str, port: int) -> list[str]:
        """Checked addresses for ``host``; the dialer uses the same answer.

        One lookup per name at a time, shared by every request that needs it, and cached
        (refusals and DNS failures too) for DNS_CACHE_SECONDS.
        """
        key = (host.lower(), port)
        cached = self._dns.get(key)
        if cached is None or cached[1] <= time.monotonic():
            lookup = asyncio.ensure_future(
                resolve_checked(host, port, self.settings.allow_private, self._resolver)
            )
            lookup.add_done_callback(_retrieve)  # a failure nobody awaits is not "lost"
            cached = self._dns[key] = (lookup, time.monotonic() + DNS_CACHE_SECONDS)
        return await asyncio.shield(cached[0])

    def _pause_host(self, url: str, asked_s: float) -> str:
        """A 429's Retry-After pauses its host for this fetcher, capped at max_host_pause;
        returns the note the 429's own record carries."""
        host = _checked_url(url).host.lower()
        granted = min(max(asked_s, 0.0), self.settings.max_host_pause)
        until = time.monotonic() + granted
        current = self._paused.get(host)
        if current is None or current.until < until:
            self._paused[host] = HostPause(until, asked_s, granted)
        capped = f", capped at {granted:g} s" if granted < asked_s else ""
        return f"{host} paused for {granted:g} s (HTTP 429, Retry-After {asked_s:g} s{capped})"

    def _pause_left(self, host: str) -> float:
        pause = self._paused.get(host)
        return pause.until - time.monotonic() if pause else 0.0

    async def _wait_for_host(self, host: str, waited: float) -> float:
        """Wait out the host's 429 pause, never past max_host_pause in all for one request
        (``waited`` so far); returns the new total."""
        budget = self.settings.max_host_pause
        while waited < budget:
            left = self._pause_left(host)
            if left <= 0:
                break
            step = min(left, budget - waited)
            await asyncio.sleep(step)
            waited += step
        return waited

    def _waited_note(self, host: str, waited: float) -> str:
        pause = self._paused.get(host)
        asked = f", Retry-After {pause.asked_s:g} s" if pause else ""
        return (
            f"waited {waited:.1f} s: {host} asked for a pause (HTTP 429{asked}; a host pause"
            f" is capped at {self.settings.max_host_pause:g} s)"
        )

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._per_host.get(host)
        if slot is None:
            slot = self._per_host[host] = asyncio.Semaphore(self.settings.max_per_host)
        return slot


class SendOptions(TypedDict, total=False):
    """:meth:`Fetcher.send`'s keyword arguments (its signature holds the defaults)."""

    content: bytes
    headers: Mapping[str, str] | None
    max_bytes: int


def request_blocking(
    settings: Settings, method: str, url: str, **options: Unpack[SendOptions]
) -> Response:
    """:meth:`Fetcher.send` for synchronous callers (alert delivery), also from a thread
    that already runs an event loop. Raises ``FetchError`` like ``send``."""

    async def go() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.send(method, url, **options)

    return run_async(go())


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, also from a thread that already
    runs an event loop (a Prefect task, a notebook): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="run-async") as pool:
        return pool.submit(asyncio.run, coro).result()


# --------------------------------------------------------------------- helpers


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """The validators of a conditional GET: ``If-None-Match`` / ``If-Modified-Since`` for
    the ETag and Last-Modified a previous answer gave (none for what it did not)."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def status_error(response: Response) -> FetchError | None:
    """The error a non-2xx final status means (feeds and pages alike), else None."""
    try:
        _raise_for_status(response)
    except FetchError as exc:
        return exc
    return None


def _raise_for_status(response: Response) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    label = f"HTTP {status} {response.reason}".strip()
    url = response.url
    if status == 429:
        wait = response.retry_after_s
        hint = f"; Retry-After {wait:g} s" if wait is not None else ""
        raise TransientFetchError(
            f"{label}: rate limited{hint} (after {response.attempts} attempts)",
            url=url,
            status=status,
        )
    if status >= 500:
        raise TransientFetchError(
            f"{label}: server error (after {response.attempts} attempts)", url=url, status=status
        )
    if status == 410:
        raise PermanentFetchError(f"{label}: the resource was removed", url=url, status=status)
    if status in (401, 403):
        challenge = "cf-mitigated" in response.headers or (
            "cloudflare" in response.headers.get("server", "").lower()
        )
        why = "blocked by a Cloudflare challenge" if challenge else "blocked by the server"
        raise PermanentFetchError(f"{label}: {why}", url=url, status=status)
    if 400 <= status < 500:
        raise PermanentFetchError(label, url=url, status=status)
    raise PermanentFetchError(f"unexpected {label}", url=url, status=status)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _stash_location(response: httpx.Response) -> None:
    """Hide Location from httpx, which parses it even when not following (and raises on
    ``data:`` and other odd URLs); the redirect loop here reads and checks it instead."""
    if "location" in response.headers:
        response.headers[STASHED_LOCATION] = response.headers.pop("location")


@functools.lru_cache(maxsize=4096)
def _checked_url(url: str) -> httpx.URL:
    """``url`` parsed, if its scheme is http(s); cached (each request looks at it often)."""
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "(none)"
        raise PermanentFetchError(f"scheme not allowed: {shown} (http and https only)", url=url)
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentFetchError(f"invalid URL: {exc}", url=str(url)) from exc
    if not target.host:
        raise PermanentFetchError("invalid URL: no host", url=url)
    return target


@contextlib.asynccontextmanager
async def _translated(url: str) -> AsyncIterator[None]:
    """Turn httpx/OS exceptions into our error tree, each with one clear line."""
    try:
        yield
    except FetchError:
        raise
    except httpx.ConnectTimeout as exc:
        raise RetryableFetchError(f"connect timeout: {_reason(exc)}", url=url) from exc
    except httpx.ConnectError as exc:
        if _is_tls(exc):
            raise PermanentFetchError(f"TLS error: {_reason(exc)}", url=url) from exc
        raise RetryableFetchError(f"connection failed: {_reason(exc)}", url=url) from exc
    except httpx.ReadTimeout as exc:
        raise TransientFetchError("read timeout: the server stopped sending", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientFetchError(f"timeout: {_reason(exc)}", url=url) from exc
    except httpx.RemoteProtocolError as exc:
        text = _reason(exc)
        what = "incomplete body" if "complete message body" in text else "protocol error"
        raise RetryableFetchError(f"{what}: {text}", url=url) from exc
    except httpx.ReadError as exc:
        raise RetryableFetchError(f"connection reset: {_reason(exc)}", url=url) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentFetchError(f"invalid URL: {_reason(exc)}", url=url) from exc
    except httpx.HTTPError as exc:
        raise TransientFetchError(f"HTTP failure: {_reason(exc)}", url=url) from exc
    except ssl.SSLError as exc:
        raise PermanentFetchError(f"TLS error: {_reason(exc)}", url=url) from exc
    except OSError as exc:
        raise RetryableFetchError(f"connection failed: {_reason(exc)}", url=url) from exc


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "SSL" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:  # prefer the OS's words: "Connection refused", "Network is …"
        if isinstance(seen, OSError) and not isinstance(seen, ssl.SSLError) and seen.errno:
            return os.strerror(seen.errno).lower()
        seen = seen.__cause__ or seen.__context__
    text = str(exc).strip()
    if not text and exc.__cause__ is not None:
        text = str(exc.__cause__).strip()
    return text or type(exc).__name__


def _internal(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc}"


def _page_error(url: str, fetched_at: datetime, exc: FetchError) -> PageFetch:
    return PageFetch(
        url=url,
        fetched_at=fetched_at,
        status="error",
        http_status=exc.status,
        error=str(exc),
        error_class=error_class(exc),
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


def _with_elapsed(record: Record, started: float) -> Record:
    return _replace(record, elapsed_ms=(time.monotonic() - started) * 1000)


__all__ = [
    "BoundedDecoder",
    "Fetcher",
    "HostPause",
    "Response",
    "SendOptions",
    "conditional_headers",
    "parse_retry_after",
    "request_blocking",
    "run_async",
    "status_error",
]
