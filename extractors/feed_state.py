"""Per-feed state between polls, pure: previous state + one poll outcome -> next state.

- ok / not_modified: failures reset, validators (ETag, Last-Modified) updated, the feed is
  due again at once (the schedule decides how often runs happen).
- error: failures + 1, validators kept, next poll after an exponential backoff
  (30 min, 1 h, 2 h, ... capped at 24 h, never a permanent stop) with ±20 % jitter, or
  after the server's Retry-After when that is later (capped at 7 days).

Jitter is derived from the source id and the failure count, so the function stays pure
(same inputs, same output) while failing feeds still spread out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from extractors.models import FeedPoll, FeedState, Source
from newswatch.settings import Settings

FEED_BACKOFF_BASE = timedelta(minutes=30)
FEED_BACKOFF_CAP = timedelta(hours=24)
RETRY_AFTER_CAP = timedelta(days=7)
JITTER = 0.2


def next_state(
    prev: FeedState | None, poll: FeedPoll, now: datetime, settings: Settings
) -> FeedState:
    """The state to store after ``poll``. ``settings`` is accepted for future knobs."""
    del settings  # feed-level backoff has its own constants (request retries use settings)
    prev = prev or FeedState(source_id=poll.source_id)
    etag = poll.etag or prev.etag
    last_modified = poll.last_modified or prev.last_modified
    common = {
        "source_id": poll.source_id,
        "last_status": poll.status,
        "last_http_status": poll.http_status,
        "last_polled_at": now,
    }
    if poll.status in ("ok", "not_modified"):
        items = len(poll.entries) if poll.status == "ok" else prev.items_seen
        return FeedState(
            **common,
            etag=etag,
            last_modified=last_modified,
            last_error=None,
            consecutive_failures=0,
            last_success_at=now,
            next_poll_at=now,
            items_seen=items,
        )
    failures = prev.consecutive_failures + 1
    delay = failure_delay(poll.source_id, failures, poll.retry_after_s)
    return FeedState(
        **common,
        etag=prev.etag,
        last_modified=prev.last_modified,
        last_error=poll.error,
        consecutive_failures=failures,
        last_success_at=prev.last_success_at,
        next_poll_at=now + delay,
        items_seen=prev.items_seen,
    )


def failure_delay(source_id: str, failures: int, retry_after_s: float | None) -> timedelta:
    """How long to leave a feed alone after its ``failures``-th failure in a row."""
    exponent = min(max(failures - 1, 0), 20)
    backoff = min(FEED_BACKOFF_BASE * (2**exponent), FEED_BACKOFF_CAP)
    backoff = min(backoff * _jitter_factor(source_id, failures), FEED_BACKOFF_CAP)
    if retry_after_s is not None and retry_after_s > 0:
        asked = min(timedelta(seconds=retry_after_s), RETRY_AFTER_CAP)
        return max(backoff, asked)
    return backoff


def is_due(state: FeedState | None, now: datetime) -> bool:
    """True when a feed may be polled at ``now`` (never polled, or its wait is over)."""
    return state is None or state.next_poll_at is None or state.next_poll_at <= now


def due_sources(
    sources: Iterable[Source], states: Mapping[str, FeedState], now: datetime
) -> list[Source]:
    """The enabled sources whose backoff is over."""
    return [s for s in sources if s.enabled and is_due(states.get(s.id), now)]


def _jitter_factor(source_id: str, failures: int) -> float:
    digest = hashlib.sha256(f"{source_id}:{failures}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64  # [0, 1)
    return 1.0 - JITTER + 2 * JITTER * unit
