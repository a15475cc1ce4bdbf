"""The only network module: polite, bounded HTTP GETs for feeds, pages and robots.txt.

What it guarantees, whatever the server does (knobs in ``Settings``):
- a total deadline per attempt (``asyncio.timeout`` around connect, every redirect hop
  and the whole streamed body), besides httpx's connect/read timeouts;
- a body cap counted on the raw stream *and* on the decoded bytes: the body is read raw
  and decompressed here (gzip/deflate) in pieces of at most 256 KiB, so a gzip bomb is
  stopped at the cap without ever holding more than one piece beyond it;
- redirects followed by hand (at most ``max_redirects``), each hop re-checked for its
  scheme (http/https only) and by the SSRF guard;
- the SSRF guard resolves each host, refuses non-public addresses unless allowed (before
  any connection: every hop is checked first), and the connection itself is opened by a
  network backend that connects to the *checked* address (the same cached answer), so a
  second DNS answer cannot rebind the request to an internal address; the URL keeps its
  host name, so the Host header, TLS SNI and certificate checks are unchanged;
- retries with exponential backoff and jitter for connection errors, incomplete bodies,
  5xx and 429 (Retry-After honoured up to ``backoff_max``; beyond that, give up as
  transient with the Retry-After recorded); never for other 4xx;
- a Retry-After defers the resource that sent it (the record carries it; the feed's state
  then waits, ``newswatch.extractors.feed_state``), never the other feeds on its host. Only a 429
  (rate limiting is per client, so per host) also pauses the host for the rest of this
  fetcher's life, capped at ``max_host_pause`` seconds: other requests to that host wait
  at most that long in all, then go ahead, and their records say they waited;
- global and per-host concurrency limits; robots.txt (RFC 9309) per origin for pages.

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
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace as _replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpcore
import httpx

from newswatch.core.errors import FetchError, PermanentFetchError, TransientFetchError
from newswatch.core.records import FeedPoll, FeedState, PageFetch, Source
from newswatch.core.settings import Settings
from newswatch.extractors.cadence import cache_lifetime
from newswatch.extractors.feeds import ParsedFeed, parse_feed
from newswatch.extractors.robots import MAX_ROBOTS_BYTES, RobotsPolicy, policy_from_response
from newswatch.extractors.robots import unreachable_policy as robots_unreachable
from newswatch.extractors.ssrf import ALLOWED_SCHEMES, Resolver, resolve_checked, system_resolver

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STASHED_LOCATION = "x-newswatch-location"
MAX_DECODED_PIECE = 256 * 1024
DNS_CACHE_SECONDS = 120.0  # answers and failures alike: a dead name is looked up once
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
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


class RetryableFetchError(TransientFetchError):
    """A transient failure worth another attempt within the same call."""


@dataclass(frozen=True)
class HostPause:
    """A host's 429 Retry-After, as this fetcher honours it (capped)."""

    until: float  # monotonic time
    asked_s: float  # what the server asked for
    granted_s: float  # what the cap allowed


class BodyTooLarge(Exception):
    """The decoded body passed the cap; ``partial`` holds the bytes up to the cap."""

    def __init__(self, partial: bytes) -> None:
        super().__init__("body too large")
        self.partial = partial


class BoundedDecoder:
    """Decode a raw (possibly compressed) body incrementally, never past ``limit`` bytes."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1:
            raise PermanentFetchError(f"unsupported content-encoding: {content_encoding}")
        self.coding = codings[0] if codings else None
        if self.coding not in (None, "gzip", "x-gzip", "deflate"):
            raise PermanentFetchError(f"unsupported content-encoding: {self.coding}")
        self.limit = limit
        self.size = 0
        self._zlib: zlib._Decompress | None = None
        self._kept: list[bytes] = []

    def decode(self, chunk: bytes) -> bytes:
        if self.coding is None:
            return self._count(chunk)
        if self._zlib is None:
            self._zlib = self._new_decompressor(chunk)
        pieces: list[bytes] = []
        data = chunk
        try:
            while data:
                room = min(self.limit - self.size + 1, MAX_DECODED_PIECE)
                pieces.append(self._count(self._zlib.decompress(data, room)))
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:  # gzip allows several members one after the other
                    data = self._zlib.unused_data
                    if not data.strip(b"\x00"):
                        break
                    self._zlib = self._new_decompressor(data)
        except zlib.error as exc:
            raise PermanentFetchError(f"could not decode {self.coding} body: {exc}") from exc
        return b"".join(pieces)

    def flush(self) -> bytes:
        if self._zlib is None:
            return b""
        try:
            tail = self._count(self._zlib.flush())
        except zlib.error as exc:
            raise PermanentFetchError(f"could not decode {self.coding} body: {exc}") from exc
        if not self._zlib.eof:
            raise PermanentFetchError(f"could not decode {self.coding} body: truncated stream")
        return tail

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.limit:
            overflow = self.size - self.limit
            self._kept.append(piece[: len(piece) - overflow])
            raise BodyTooLarge(b"".join(self._kept))
        self._kept.append(piece)
        return piece

    def _new_decompressor(self, first: bytes) -> zlib._Decompress:
        if self.coding == "deflate":
            # "deflate" is zlib-wrapped per the RFC, raw deflate in practice as often.
            looks_zlib = (
                len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
            )
            return zlib.decompressobj(zlib.MAX_WBITS if looks_zlib else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the SSRF guard has checked."""

    def __init__(self, resolve: Callable[[str, int], Awaitable[list[str]]]) -> None:
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        for index, address in enumerate(addresses):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                if index == len(addresses) - 1:
                    raise
        raise httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise PermanentFetchError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process (building one loads the CA bundle: ~0.1 s)."""
    return httpx.create_ssl_context(trust_env=False)


def guarded_transport(
    limits: httpx.Limits, resolve: Callable[[str, int], Awaitable[list[str]]]
) -> httpx.AsyncHTTPTransport:
    """httpx's own transport whose connection pool dials through :class:`GuardedBackend`.

    httpx 0.28 has no public hook for the network backend, so the pool it builds is
    replaced by an identical one with the backend set (httpx is pinned).
    """
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context(), limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(resolve),
    )
    return transport


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
        self._parse_pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="feedparse")
        self._parse_slots = asyncio.Semaphore(settings.workers)

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        limits = httpx.Limits(
            max_connections=s.max_connections, max_keepalive_connections=s.max_connections
        )
        self._client = httpx.AsyncClient(
            transport=self._transport or guarded_transport(limits, self._resolve_host),
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
        self._parse_pool.shutdown(wait=False, cancel_futures=True)

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
            poll = _feed_error(source, fetched_at, exc)
        except Exception as exc:  # a bug must cost one source, not the run
            poll = _feed_error(source, fetched_at, TransientFetchError(_internal(exc)))
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
        headers = {"Accept": FEED_ACCEPT}
        if state and state.etag:
            headers["If-None-Match"] = state.etag
        if state and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        conditional = "If-None-Match" in headers or "If-Modified-Since" in headers
        response = await self.get(source.url, headers=headers)
        base = {
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
        failure = status_error(response)
        if failure is not None:
            return FeedPoll(
                status="error",
                error=str(failure),
                error_class=_error_class(failure),
                notes=waited,
                **base,
            )
        if not response.body.strip():
            error = f"empty response (HTTP {response.status}, no feed in the body)"
            return FeedPoll(
                status="error", error=error, error_class="transient", notes=waited, **base
            )
        content_type = response.headers.get("content-type")
        parsed = await self._parse(
            response.body,
            base_url=response.final_url,
            source_id=source.id,
            fetched_at=fetched_at,
            content_type=content_type,
        )
        details = {
            "bozo": parsed.bozo,
            "bozo_error": parsed.bozo_error,
            "discovered_feed_url": parsed.discovered_feed_url,
            "notes": (*waited, *parsed.notes),
            "declared_interval_s": parsed.declared_interval_s,
        }
        if not parsed.entries and parsed.is_html:
            found = parsed.discovered_feed_url
            hint = f"; the page links a feed: {found}" if found else "; no feed link found"
            error = f"not a feed ({_media_type(content_type) or 'HTML'}){hint}"
            return FeedPoll(status="error", error=error, error_class="permanent", **base, **details)
        if not parsed.entries and not parsed.version and parsed.bozo:
            error = f"not a feed: {parsed.bozo_error}"
            return FeedPoll(status="error", error=error, error_class="permanent", **base, **details)
        return FeedPoll(status="ok", entries=parsed.entries, **base, **details)

    async def _fetch_page(self, url: str, fetched_at: datetime) -> PageFetch:
        await self._preflight(url)  # a refused URL says so, not "robots.txt unavailable"
        if self.settings.respect_robots:
            refusal = await self._robots_refusal(url)
            if refusal:
                error_class = "transient" if "unavailable" in refusal else "permanent"
                return PageFetch(
                    url=url,
                    fetched_at=fetched_at,
                    status="error",
                    error=f"skipped: {refusal}",
                    error_class=error_class,
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
            error_class=None if failure is None else _error_class(failure),
            redirects=response.redirects,
            retry_after_s=response.retry_after_s,
        )

    async def _parse(self, content: bytes, **kwargs: object) -> ParsedFeed:
        """parse_feed in a worker thread; the deadline starts when the parse starts.

        A thread cannot be killed: a parse past its deadline keeps its worker until it
        ends, and its slot is only freed then, so later parses are not starved unseen.
        """
        await self._parse_slots.acquire()
        call = functools.partial(
            parse_feed, content, max_entries=self.settings.max_entries_per_feed, **kwargs
        )
        try:
            future = asyncio.get_running_loop().run_in_executor(self._parse_pool, call)
        except BaseException:
            self._parse_slots.release()
            raise
        future.add_done_callback(lambda _: self._parse_slots.release())
        try:
            async with asyncio.timeout(self.settings.feed_parse_timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise PermanentFetchError(
                f"feed parse exceeded the {self.settings.feed_parse_timeout:g} s deadline"
            ) from None

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
                    "GET", url, headers or {}, limit, truncate, notes
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
        return await self._request_once(
            method, url, headers or {}, max_bytes, True, [], content=content, follow=False
        )

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff_base * 2 ** (attempt - 1)
        return min(self.settings.backoff_max, base * random.uniform(0.5, 1.5))

    async def _request_once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        limit: int,
        truncate: bool,
        notes: list[str],
        *,
        content: bytes | None = None,
        follow: bool = True,
    ) -> Response:
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
                        return await self._follow(
                            method, url, headers, limit, truncate, content, follow
                        )
                except TimeoutError:
                    raise TransientFetchError(
                        f"timed out after {total:g} s (total deadline, body included)", url=url
                    ) from None

    async def _follow(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        limit: int,
        truncate: bool,
        content: bytes | None,
        follow: bool,
    ) -> Response:
        assert self._client is not None, "use Fetcher as an async context manager"
        current = url
        redirects: list[str] = []
        for _hop in range(self.settings.max_redirects + 1):
            await self._preflight(current)  # every hop: scheme and SSRF, before connecting
            target = _checked_url(current)
            request = self._client.build_request(method, target, headers=headers, content=content)
            async with _translated(current):
                response = await self._client.send(request, stream=True)
                try:
                    if follow and response.status_code in REDIRECT_STATUSES:
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
                    body = await _read_body(response, limit, truncate)
                finally:
                    await response.aclose()
            return Response(
                url=url,
                final_url=current,
                status=response.status_code,
                reason=response.reason_phrase,
                headers=response.headers,
                body=body,
                redirects=tuple(redirects),
                retry_after_s=parse_retry_after(response.headers.get("retry-after"), utc_now()),
            )
        raise PermanentFetchError(f"too many redirects ({self.settings.max_redirects})", url=url)

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


def request_blocking(
    settings: Settings,
    method: str,
    url: str,
    *,
    content: bytes = b"",
    headers: Mapping[str, str] | None = None,
    max_bytes: int = 64 * 1024,
) -> Response:
    """:meth:`Fetcher.send` for synchronous callers (alert delivery), also from a thread
    that already runs an event loop. Raises ``FetchError`` like ``send``."""

    async def go() -> Response:
        async with Fetcher(settings) as fetcher:
            return await fetcher.send(
                method, url, content=content, headers=headers, max_bytes=max_bytes
            )

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


async def _read_body(response: httpx.Response, limit: int, truncate: bool) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and not truncate:
        raise PermanentFetchError(
            f"body exceeds {_size(limit)} (Content-Length {_size(int(declared))})"
        )
    decoder = BoundedDecoder(response.headers.get("content-encoding"), limit)
    parts: list[bytes] = []
    raw_size = 0
    try:
        async for chunk in response.aiter_raw():
            raw_size += len(chunk)
            if raw_size > limit:  # compressed bigger than the cap: decoded is too
                raise BodyTooLarge(b"".join(parts))
            parts.append(decoder.decode(chunk))
        parts.append(decoder.flush())
    except BodyTooLarge as exc:
        if truncate:
            return exc.partial[:limit]
        raise PermanentFetchError(f"body exceeds {_size(limit)} (after decompression)") from None
    return b"".join(parts)


@contextlib.asynccontextmanager
async def _translated(url: str):  # type: ignore[no-untyped-def]
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


def _retrieve(future: asyncio.Future[object]) -> None:
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


def _size(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        return f"{n / mib:g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} bytes"


def _media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def _error_class(exc: FetchError) -> str:
    return "transient" if isinstance(exc, TransientFetchError) else "permanent"


def _feed_error(source: Source, fetched_at: datetime, exc: FetchError) -> FeedPoll:
    return FeedPoll(
        source_id=source.id,
        url=source.url,
        status="error",
        fetched_at=fetched_at,
        http_status=exc.status,
        error=str(exc),
        error_class=_error_class(exc),
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


def _page_error(url: str, fetched_at: datetime, exc: FetchError) -> PageFetch:
    return PageFetch(
        url=url,
        fetched_at=fetched_at,
        status="error",
        http_status=exc.status,
        error=str(exc),
        error_class=_error_class(exc),
        retry_after_s=getattr(exc, "retry_after_s", None),
    )


def _with_elapsed(record: Record, started: float) -> Record:
    return _replace(record, elapsed_ms=(time.monotonic() - started) * 1000)


__all__ = [
    "BoundedDecoder",
    "Fetcher",
    "HostPause",
    "Response",
    "parse_retry_after",
    "request_blocking",
    "status_error",
]
