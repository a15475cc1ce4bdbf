"""Google News article links -> the publisher's URL, through Google's own ``batchexecute`` call.

Since 2024 a Google News RSS item links to ``news.google.com/rss/articles/<token>``, a
JavaScript interstitial that no longer redirects over HTTP: fetched as is, the pipeline would
store Google's page. Decoding one link takes two requests, both through the project's
``Fetcher`` (SSRF guard, deadlines, body caps), the algorithm of the ``googlenewsdecoder``
package (0.2.2, read, not installed):

1. GET ``<base>/rss/articles/<token>?hl=…&gl=…&ceid=…``: the page carries the signature
   ``data-n-a-sg`` and timestamp ``data-n-a-ts`` attributes;
2. POST ``<base>/_/DotsSplashUi/data/batchexecute`` with the form field ``f.req``: one
   ``Fbv4je`` envelope whose inner JSON is ``["garturlreq", <context>, token, ts, sig]``;
3. the reply, in Google's ``)]}'`` framing, holds a ``wrb.fr`` row whose payload is
   ``["garturlres", "<publisher URL>", …]``.

``<base>`` is ``Settings.gnews_base_url`` (https://news.google.com; tests point it at a
local stand-in). Decodes run one at a time, at most ``Settings.gnews_decodes_per_second``
started per second. A refused decode (an HTTP error, a page without the attributes, a reply
without a URL) becomes a failed ``PageFetch`` of the Google link: a page failure, fetched
again on the page-retry schedule, never Google's page stored as an article. The warehouse
caches each decoded link (``warehouse/gnews_links.py``), so a link is decoded once.

A source of ``kind = "gnews"`` also takes its articles' outlet from each item's
``<source url="…">`` (``outlet_of``), not from the source's name.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

from newswatch.core.errors import FetchError
from newswatch.core.records import FeedEntry, FeedPoll, PageFetch
from newswatch.extractors.feed_poll import error_class
from newswatch.extractors.http import PAGE_ACCEPT, Fetcher

KIND = "gnews"
BATCHEXECUTE_PATH = "/_/DotsSplashUi/data/batchexecute"
REPLY_LIMIT = 256 * 1024  # a reply is a few hundred bytes
_SIGNATURE = re.compile(r'data-n-a-sg="([^"]+)"')
_TIMESTAMP = re.compile(r'data-n-a-ts="([^"]+)"')
_CONTEXT = [
    ["X", "X", ["X", "X"], None, None, 1, 1, "US:en", None, 1, None, None, None, None, None, 0, 1],
    "X",
    "X",
    1,
    [1, 1, 1],
    1,
    1,
    None,
    0,
    0,
    None,
    0,
]


class DecodeRefused(Exception):
    """Google did not give the publisher's URL; the message says why, in one line."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        transient: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.transient = transient
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Decode:
    """One Google News link and what decoding it gave: the publisher's URL, or why not."""

    link: str
    decoded_at: datetime
    publisher_url: str | None = None
    error: str | None = None
    error_class: str | None = None  # transient | permanent (failures only)
    http_status: int | None = None
    retry_after_s: float | None = None


# ---------------------------------------------------------------------- pure parts


def article_token(link: str, base: str) -> str | None:
    """The article token of a Google News article link under ``base``
    (``…/rss/articles/<token>``, ``…/articles/<token>``, ``…/read/<token>``), else None."""
    try:
        parts, home = urlsplit(link), urlsplit(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != home.netloc.lower():
        return None
    segments = parts.path.split("/")
    if len(segments) > 2 and segments[-2] in ("articles", "read") and segments[-1]:
        return segments[-1]
    return None


def article_page_url(token: str, link: str, base: str) -> str:
    """The page that carries the decoding attributes (``/articles/`` and ``/read/`` send
    non-browser clients to a 'sorry' page); the locale is the link's, else en-US."""
    query = parse_qs(urlsplit(link).query)
    hl = query.get("hl", ["en-US"])[0]
    gl = query.get("gl", ["US"])[0]
    ceid = query.get("ceid", ["US:en"])[0]
    locale = "&".join(
        f"{k}={quote(v, safe='')}" for k, v in (("hl", hl), ("gl", gl), ("ceid", ceid))
    )
    return f"{base.rstrip('/')}/rss/articles/{token}?{locale}"


def decoding_params(html: str) -> tuple[str, str] | None:
    """(signature, timestamp) from an article page's ``data-n-a-sg`` / ``data-n-a-ts``."""
    signature, timestamp = _SIGNATURE.search(html), _TIMESTAMP.search(html)
    if signature and timestamp:
        return signature.group(1), timestamp.group(1)
    return None


def batchexecute_body(token: str, timestamp: str, signature: str) -> bytes:
    """The form body (``f.req=…``) of one batchexecute POST asking for ``token``'s URL."""
    inner = ["garturlreq", _CONTEXT, token, int(timestamp) if timestamp.isdigit() else timestamp]
    inner.append(signature)
    envelope = ["Fbv4je", json.dumps(inner, separators=(",", ":")), None, "1"]
    return f"f.req={quote(json.dumps([[envelope]], separators=(',', ':')))}".encode()


def publisher_url(reply: str, base: str) -> str:
    """The publisher URL in a batchexecute reply (``)]}'`` prefix, then JSON arrays,
    possibly length-prefixed chunks); raises DecodeRefused when there is none."""
    body = reply.lstrip()
    if body.startswith(")]}'"):
        body = body[4:]
    for row in _rows(body):
        if len(row) < 3 or row[0] != "wrb.fr" or row[1] != "Fbv4je":
            continue
        payload = row[2]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                continue
        if isinstance(payload, list) and len(payload) > 1 and payload[0] == "garturlres":
            url = payload[1]
            if isinstance(url, str):
                return _checked_publisher(url, base)
    raise DecodeRefused("no publisher URL in Google's batchexecute reply")


def refused_page(decode: Decode) -> PageFetch:
    """The failed fetch a refused decode stands for (the Google link is never fetched)."""
    return PageFetch(
        url=decode.link,
        fetched_at=decode.decoded_at,
        status="error",
        http_status=decode.http_status,
        error=f"Google News link not decoded: {decode.error}",
        error_class=decode.error_class or "transient",
        retry_after_s=decode.retry_after_s,
    )


def relink(entries: Iterable[FeedEntry], publishers: Mapping[str, str]) -> list[FeedEntry]:
    """``entries`` with each Google link found in ``publishers`` replaced by its URL."""
    return [replace(e, link=publishers[e.link]) if e.link in publishers else e for e in entries]


def relink_polls(polls: Sequence[FeedPoll], publishers: Mapping[str, str]) -> list[FeedPoll]:
    """Every poll with its entries relinked (``relink``); polls without a hit unchanged."""
    if not publishers:
        return list(polls)
    return [
        replace(p, entries=tuple(relink(p.entries, publishers)))
        if any(e.link in publishers for e in p.entries)
        else p
        for p in polls
    ]


def followed(entries: Sequence[FeedEntry], pages: Sequence[PageFetch]) -> list[FeedEntry]:
    """Each entry whose page was fetched at its decoded publisher URL (``fetch_pages``
    below), relinked to that URL: the article is stored under the publisher's URL."""
    return [
        replace(e, link=p.url) if p.url != e.link else e
        for e, p in zip(entries, pages, strict=True)
    ]


def outlet_of(entry: FeedEntry) -> str | None:
    """The publisher of a Google News item: the host of its ``<source url>``, else the
    host of its (decoded) link; None when neither has one."""
    for url in (entry.source_url, entry.link):
        host = urlsplit(url or "").hostname
        if host:
            return host
    return None


def google_links(links: Iterable[str], base: str) -> list[str]:
    """The distinct Google News article links among ``links``, in order."""
    return list(dict.fromkeys(link for link in links if article_token(link, base)))


# ---------------------------------------------------------------------- network parts


class Pacer:
    """At most ``per_second`` starts per second (0 or less: no limit)."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gap = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        if self.gap <= 0:
            return
        now = self._clock()
        if self._next > now:
            await self._sleep(self._next - now)
            now = self._next
        self._next = now + self.gap


async def decode(fetcher: Fetcher, link: str, base: str) -> Decode:
    """Decode one Google News link through ``fetcher``; never raises for Google's answer."""
    decoded_at = datetime.now(UTC)
    try:
        url = await _decode(fetcher, link, base)
    except DecodeRefused as exc:
        return Decode(
            link,
            decoded_at,
            error=str(exc),
            error_class="transient" if exc.transient else "permanent",
            http_status=exc.status,
            retry_after_s=exc.retry_after_s,
        )
    except FetchError as exc:  # no answer (connection, deadline, refused address)
        return Decode(
            link,
            decoded_at,
            error=str(exc),
            error_class=error_class(exc),
            http_status=exc.status,
        )
    return Decode(link, decoded_at, publisher_url=url)


async def decode_all(
    fetcher: Fetcher, links: Sequence[str], base: str, per_second: float
) -> dict[str, Decode]:
    """Decode each distinct link, one at a time, paced to ``per_second`` decodes."""
    pacer = Pacer(per_second)
    decodes: dict[str, Decode] = {}
    for link in dict.fromkeys(links):
        await pacer.wait()
        decodes[link] = await decode(fetcher, link, base)
    return decodes


async def fetch_pages(
    fetcher: Fetcher, links: Sequence[str], base: str, per_second: float
) -> tuple[list[PageFetch], list[Decode]]:
    """``Fetcher.fetch_pages`` for links of which some are Google News links: those are
    decoded first and their publisher's page fetched instead (its ``PageFetch.url`` is the
    publisher URL, see ``followed``); a refused decode gives ``refused_page``. One page per
    link, in order, and every decode made."""
    decodes = await decode_all(fetcher, google_links(links, base), base, per_second)
    targets = [(decodes[link].publisher_url if link in decodes else link) for link in links]
    fetched = iter(await fetcher.fetch_pages([t for t in targets if t is not None]))
    pages = [
        next(fetched) if target is not None else refused_page(decodes[link])
        for link, target in zip(links, targets, strict=True)
    ]
    return pages, list(decodes.values())


async def _decode(fetcher: Fetcher, link: str, base: str) -> str:
    token = article_token(link, base)
    if token is None:
        raise DecodeRefused("not a Google News article link", transient=False)
    page = await fetcher.get(article_page_url(token, link, base), headers={"Accept": PAGE_ACCEPT})
    _refuse_status("article page", page.status, page.retry_after_s)
    params = decoding_params(page.body.decode("utf-8", errors="replace"))
    if params is None:
        raise DecodeRefused(
            f"Google's article page (HTTP {page.status}) has no data-n-a-sg/data-n-a-ts "
            "attributes (a consent or 'sorry' page?)",
            status=page.status,
        )
    signature, timestamp = params
    reply = await fetcher.send(
        "POST",
        base.rstrip("/") + BATCHEXECUTE_PATH,
        content=batchexecute_body(token, timestamp, signature),
        headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        max_bytes=REPLY_LIMIT,
    )
    _refuse_status("batchexecute", reply.status, reply.retry_after_s)
    try:
        return publisher_url(reply.body.decode("utf-8", errors="replace"), base)
    except DecodeRefused as exc:
        raise DecodeRefused(str(exc), status=reply.status) from None


def _refuse_status(step: str, status: int, retry_after_s: float | None) -> None:
    if 200 <= status < 300:
        return
    hint = f", Retry-After {retry_after_s:g} s" if retry_after_s is not None else ""
    why = "rate limited" if status == 429 else "refused"
    raise DecodeRefused(
        f"{step} answered HTTP {status} ({why}{hint})",
        status=status,
        transient=status == 429 or status >= 500,
        retry_after_s=retry_after_s,
    )


def _rows(body: str) -> list[list[object]]:
    """The rows (lists) of every JSON value in ``body``; length prefixes are skipped."""
    decoder = json.JSONDecoder()
    rows: list[list[object]] = []
    at = 0
    while at < len(body):
        if body[at].isspace():
            at += 1
            continue
        try:
            value, at = decoder.raw_decode(body, at)
        except ValueError:
            raise DecodeRefused("Google's reply is not batchexecute JSON") from None
        if isinstance(value, list):
            rows += [row for row in value if isinstance(row, list)]
    return rows


def _checked_publisher(url: str, base: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DecodeRefused(f"Google's reply gave no web URL ({url[:80]!r})")
    if parts.netloc.lower() == urlsplit(base).netloc.lower():
        raise DecodeRefused(f"Google's reply points back to Google ({url[:80]})")
    return url


__all__ = [
    "KIND",
    "Decode",
    "DecodeRefused",
    "Pacer",
    "article_page_url",
    "article_token",
    "batchexecute_body",
    "decode",
    "decode_all",
    "decoding_params",
    "fetch_pages",
    "followed",
    "google_links",
    "outlet_of",
    "publisher_url",
    "refused_page",
    "relink",
    "relink_polls",
]
