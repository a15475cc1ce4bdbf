"""next_state: validators carried, failures backed off (capped, never stopped)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from newswatch.core.records import FeedEntry, FeedPoll, FeedState, Source
from newswatch.core.settings import Settings
from newswatch.extractors.feed_state import (
    FEED_BACKOFF_CAP,
    RETRY_AFTER_CAP,
    due_sources,
    failure_delay,
    is_due,
    next_state,
)

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
SETTINGS = Settings()


def ok_poll(entries: int = 2, etag: str | None = '"e2"') -> FeedPoll:
    entry = FeedEntry("f", "g", "http://x/1", "t", "s", NOW)
    return FeedPoll("f", "http://x/f", "ok", NOW, 200, etag=etag, entries=(entry,) * entries)


def error_poll(retry_after: float | None = None) -> FeedPoll:
    return FeedPoll(
        "f", "http://x/f", "error", NOW, 503, error="HTTP 503", error_class="transient",
        retry_after_s=retry_after,
    )  # fmt: skip


def test_success_resets_failures_and_stores_validators() -> None:
    prev = FeedState("f", etag='"e1"', last_modified="Mon", consecutive_failures=4)
    state = next_state(prev, ok_poll(), NOW, SETTINGS)
    assert state.etag == '"e2"'
    assert state.last_modified == "Mon"  # not re-sent by the server: kept
    assert state.consecutive_failures == 0
    assert state.last_error is None
    assert state.last_success_at == NOW
    assert NOW < state.next_poll_at <= NOW + timedelta(seconds=SETTINGS.max_poll_interval)
    assert state.items_seen == 2
    assert state.last_status == "ok" and state.last_http_status == 200


def test_not_modified_keeps_items_seen_and_validators() -> None:
    prev = FeedState("f", etag='"e1"', items_seen=7)
    poll = FeedPoll("f", "http://x/f", "not_modified", NOW, 304)
    state = next_state(prev, poll, NOW, SETTINGS)
    assert state.etag == '"e1"'
    assert state.items_seen == 7
    assert state.last_status == "not_modified"


def test_failures_back_off_exponentially_and_keep_validators() -> None:
    state = FeedState("f", etag='"e1"', last_success_at=NOW - timedelta(days=1))
    waits = []
    for _ in range(5):
        state = next_state(state, error_poll(), NOW, SETTINGS)
        waits.append(state.next_poll_at - NOW)  # type: ignore[operator]
    assert state.consecutive_failures == 5
    assert state.etag == '"e1"'
    assert state.last_error == "HTTP 503"
    assert state.last_success_at == NOW - timedelta(days=1)
    assert all(later > earlier for earlier, later in itertools.pairwise(waits))
    assert timedelta(minutes=24) <= waits[0] <= timedelta(minutes=36)  # 30 min ± 20 %


def test_backoff_is_capped_never_a_permanent_stop() -> None:
    assert failure_delay("f", 50, None) == FEED_BACKOFF_CAP
    assert failure_delay("f", 10_000, None) == FEED_BACKOFF_CAP


def test_retry_after_pushes_the_next_poll_within_a_cap() -> None:
    assert failure_delay("f", 1, 6 * 3600) == timedelta(hours=6)
    assert failure_delay("f", 1, 999_999_999) == RETRY_AFTER_CAP
    state = next_state(None, error_poll(retry_after=7200), NOW, SETTINGS)
    assert state.next_poll_at == NOW + timedelta(hours=2)


def test_jitter_is_deterministic_per_source_and_spreads_sources() -> None:
    assert failure_delay("a", 3, None) == failure_delay("a", 3, None)
    delays = {failure_delay(f"feed-{n}", 3, None) for n in range(20)}
    assert len(delays) > 10


def test_due_sources_skip_disabled_and_backed_off_feeds() -> None:
    sources = [
        Source("new", "n", "http://x/1"),
        Source("waiting", "w", "http://x/2"),
        Source("due", "d", "http://x/3"),
        Source("off", "o", "http://x/4", enabled=False),
    ]
    states = {
        "waiting": FeedState("waiting", next_poll_at=NOW + timedelta(minutes=1)),
        "due": FeedState("due", next_poll_at=NOW),
    }
    assert [s.id for s in due_sources(sources, states, NOW)] == ["new", "due"]
    assert is_due(None, NOW)
