"""Settings and helpers shared by the hostile-server tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from newswatch.core.records import FeedPoll, FeedState, PageFetch, Source
from newswatch.core.settings import Settings
from newswatch.extractors.http import Fetcher

MIB = 1024 * 1024

# Small limits so every hostile case ends in well under two seconds.
HOSTILE_SETTINGS = Settings(
    allow_private=("127.0.0.1",),
    connect_timeout=1.0,
    read_timeout=1.0,
    total_timeout=1.5,
    max_body_bytes=8 * MIB,
    max_redirects=5,
    retries=2,
    backoff_base=0.01,
    backoff_max=2.0,
    feed_parse_timeout=5.0,
    max_entries_per_feed=500,
)


def poll(
    sources: Sequence[Source],
    states: Mapping[str, FeedState] | None = None,
    settings: Settings = HOSTILE_SETTINGS,
    **fetcher_options: object,
) -> list[FeedPoll]:
    async def run() -> list[FeedPoll]:
        async with Fetcher(settings, **fetcher_options) as fetcher:  # type: ignore[arg-type]
            return await fetcher.poll_feeds(sources, states or {})

    return asyncio.run(run())


def fetch(
    urls: Sequence[str], settings: Settings = HOSTILE_SETTINGS, **fetcher_options: object
) -> list[PageFetch]:
    async def run() -> list[PageFetch]:
        async with Fetcher(settings, **fetcher_options) as fetcher:  # type: ignore[arg-type]
            return await fetcher.fetch_pages(urls)

    return asyncio.run(run())
