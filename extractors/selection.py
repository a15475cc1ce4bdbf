"""Which feed entries a run fetches, pure: the select-new-entries decision.

One entry per normalised link (the first poll listing it wins), minus the links already
stored (as an article or an alias) and the failed pages not due again
(``page_retry.is_due``), plus the failed pages due again that no feed listed this time.
The caller reads the stored links and failures (``warehouse/queries.py``) in between.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from newswatch.core.records import FeedEntry, FeedPoll, PageFailureRecord
from newswatch.extractors.page_retry import is_due
from newswatch.extractors.urls import normalise_url


def entries_by_link(polls: Sequence[FeedPoll]) -> dict[str, FeedEntry]:
    """Normalised link -> its first entry, in poll order; entries without a usable link
    are dropped."""
    by_link: dict[str, FeedEntry] = {}
    for feed_poll in polls:
        for entry in feed_poll.entries:
            link = normalise_url(entry.link)
            if link and link not in by_link:
                by_link[link] = entry
    return by_link


def fresh_entries(
    by_link: Mapping[str, FeedEntry],
    known: Collection[str],
    failed: Mapping[str, PageFailureRecord],
    due: Sequence[PageFailureRecord],
    now: datetime,
) -> list[FeedEntry]:
    """The entries to fetch: listed ones not ``known`` whose link has no stored failure
    or one due at ``now``, then the ``due`` failures listed nowhere this time."""
    fresh = [
        entry
        for link, entry in by_link.items()
        if link not in known and (link not in failed or is_due(failed[link], now))
    ]
    fresh += [f.entry() for f in due if f.url not in by_link and f.url not in known]
    return fresh


__all__ = ["entries_by_link", "fresh_entries"]
