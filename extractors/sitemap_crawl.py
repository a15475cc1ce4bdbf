"""What a backfill reads: which sources, their sitemaps crawled (indexes followed), and the
pages listed in [since, until] as feed entries, to be fetched newest first.

The crawl goes through the project's ``Fetcher`` (SSRF guard, retries, body cap, gzip);
``extractors/sitemaps.py`` parses each file. Which pages are already stored is the
warehouse's answer: the flow asks it between ``listing`` and ``selection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from newswatch.core.errors import ConfigError, FetchError
from newswatch.core.records import FeedEntry, FeedPoll, Source
from newswatch.core.settings import Settings
from newswatch.extractors.dates import parse_iso
from newswatch.extractors.http import Fetcher, run_async, status_error
from newswatch.extractors.sitemaps import (
    MAX_SITEMAP_BYTES,
    SitemapEntry,
    feed_entries,
    parse_sitemap,
    within,
)

MAX_SITEMAPS_PER_SOURCE = 200  # index children included
MAX_INDEX_DEPTH = 3


def parse_day(value: str, *, end_of_day: bool = False) -> datetime:
    """``2026-07-01`` (start or end of that UTC day) or a full ISO 8601 timestamp."""
    parsed = parse_iso(value)
    if parsed is None:
        raise ConfigError(f"'{value}' is not a date (YYYY-MM-DD or ISO 8601)")
    if end_of_day and len(value.strip()) == 10:
        return parsed.replace(hour=23, minute=59, second=59, microsecond=999999)
    return parsed


def choose_sources(sources: Sequence[Source], source_ids: Sequence[str] | None) -> list[Source]:
    """The enabled sources with a sitemap, or exactly those asked for by id."""
    if source_ids:
        by_id = {s.id: s for s in sources}
        unknown = [i for i in source_ids if i not in by_id]
        if unknown:
            raise ConfigError(f"unknown source id(s): {', '.join(unknown)}")
        without = [i for i in source_ids if not by_id[i].sitemap]
        if without:
            raise ConfigError(f"source(s) without a sitemap: {', '.join(without)}")
        return [by_id[i] for i in dict.fromkeys(source_ids)]
    return [s for s in sources if s.enabled and s.sitemap]


@dataclass(frozen=True)
class Discovery:
    """What one source's sitemap (and its index children) listed."""

    source_id: str
    sitemap_url: str
    pages: tuple[SitemapEntry, ...]
    sitemaps_read: int
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def discover(sources: Sequence[Source], since: datetime, settings: Settings) -> list[Discovery]:
    """Read every source's sitemap (following sitemap indexes) with the project's Fetcher."""

    async def go() -> list[Discovery]:
        async with Fetcher(settings) as fetcher:
            return list(await asyncio.gather(*(_discover(fetcher, s, since) for s in sources)))

    return run_async(go())


async def _discover(fetcher: Fetcher, source: Source, since: datetime) -> Discovery:
    assert source.sitemap is not None
    queue: list[tuple[str, int]] = [(source.sitemap, 0)]
    seen: set[str] = set()
    pages: list[SitemapEntry] = []
    errors: list[str] = []
    notes: list[str] = []
    while queue and len(seen) < MAX_SITEMAPS_PER_SOURCE:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            response = await fetcher.get(url, max_bytes=MAX_SITEMAP_BYTES, truncate=True)
        except FetchError as exc:
            errors.append(f"{source.id}: {url}: {exc}")
            continue
        failure = status_error(response)
        if failure is not None:
            errors.append(f"{source.id}: {url}: {failure}")
            continue
        sitemap = parse_sitemap(response.body, response.final_url or url)
        pages.extend(sitemap.pages)
        notes.extend(f"{url}: {note}" for note in sitemap.notes)
        if depth < MAX_INDEX_DEPTH:
            # a child sitemap last modified before `since` lists no page modified since
            queue.extend(
                (child.url, depth + 1)
                for child in sitemap.sitemaps
                if child.published_at is None or child.published_at >= since
            )
    if queue:
        notes.append(f"stopped after {MAX_SITEMAPS_PER_SOURCE} sitemaps")
    return Discovery(
        source.id, source.sitemap, tuple(pages), len(seen), tuple(errors), tuple(notes)
    )


@dataclass(frozen=True)
class Listing:
    """The pages the sitemaps list in [since, until], one ``FeedPoll`` per source, so the
    ingest's own new-entry stage can tell which are stored already."""

    polls: tuple[FeedPoll, ...]
    listed: int  # pages listed, in range or not
    in_range: int  # dated in range, or undated


def listing(
    discoveries: Sequence[Discovery], since: datetime, until: datetime | None, found_at: datetime
) -> Listing:
    """Pages dated in [since, until] (undated kept) as feed entries found at ``found_at``."""
    polls: list[FeedPoll] = []
    listed = in_range = 0
    for found in discoveries:
        kept = within(found.pages, since, until)
        listed += len(found.pages)
        in_range += len(kept)
        entries = feed_entries(kept, found.source_id, found_at)
        polls.append(
            FeedPoll(found.source_id, found.sitemap_url, "ok", found_at, entries=tuple(entries))
        )
    return Listing(tuple(polls), listed, in_range)


@dataclass(frozen=True)
class Selection:
    entries: tuple[FeedEntry, ...]  # not stored yet, newest first, undated last
    listed: int
    in_range: int
    undated: int


def selection(found: Listing, fresh: Sequence[FeedEntry]) -> Selection:
    """The pages to fetch: ``fresh`` (the listed pages not stored yet) newest first, the
    undated ones last, ties by link."""
    ordered = sorted(
        fresh, key=lambda e: (e.date_flag == "missing", -e.published_at.timestamp(), e.link)
    )
    undated = sum(e.date_flag == "missing" for e in ordered)
    return Selection(tuple(ordered), found.listed, found.in_range, undated)


def sitemap_errors(discoveries: Sequence[Discovery]) -> tuple[str, ...]:
    """Every source's sitemap problems (unreachable, HTTP errors), in source order."""
    return tuple(error for found in discoveries for error in found.errors)
