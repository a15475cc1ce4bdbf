"""Adaptive poll cadence: what the feed declares, what the server says, what the feed does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from newswatch.core.records import FeedEntry, FeedPoll, FeedState, Source
from newswatch.core.settings import Settings
from newswatch.extractors.cadence import (
    CadenceInputs,
    cache_lifetime,
    declared_interval,
    observed_interval,
    poll_interval,
    ttl_seconds,
    update_period_seconds,
)
from newswatch.extractors.feed_state import (
    cadence_due_at,
    due_sources,
    is_due,
    next_due_at,
    next_state,
)
from newswatch.extractors.http import Fetcher
from tests.localserver import Route, routes_handler, serve

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIN, MAX = 300.0, 6 * 3600.0
SETTINGS = Settings(min_poll_interval=MIN, max_poll_interval=MAX)


def entries_every(gap: timedelta, count: int, newest: datetime = NOW) -> tuple[FeedEntry, ...]:
    return tuple(
        FeedEntry("f", f"g{i}", f"http://x/{i}", "t", "s", newest - i * gap) for i in range(count)
    )


def ok_poll(entries: tuple[FeedEntry, ...] = (), **hints: float | None) -> FeedPoll:
    return FeedPoll("f", "http://x/f", "ok", NOW, 200, entries=entries, **hints)  # type: ignore[arg-type]


def wait_after(poll: FeedPoll, prev: FeedState | None = None) -> timedelta:
    state = next_state(prev, poll, NOW, SETTINGS)
    assert state.next_poll_at is not None
    return state.next_poll_at - NOW


def test_feed_declared_intervals_are_parsed() -> None:
    assert ttl_seconds("15") == 900
    assert ttl_seconds("soon") is None and ttl_seconds("0") is None
    assert update_period_seconds("hourly", "2") == 1800
    assert update_period_seconds("daily", None) == 86400
    assert update_period_seconds("fortnightly", "1") is None
    assert declared_interval({"ttl": "60", "sy_updateperiod": "hourly"}) == 3600
    assert declared_interval({"sy_updateperiod": "hourly", "sy_updatefrequency": "4"}) == 900
    assert declared_interval({}) is None


def test_cache_headers_give_a_freshness_lifetime() -> None:
    assert cache_lifetime({"cache-control": "public, max-age=600"}, NOW) == 600
    assert cache_lifetime({"cache-control": "no-cache"}, NOW) == 0
    expires = format_datetime(NOW + timedelta(minutes=20), usegmt=True)
    assert cache_lifetime({"expires": expires}, NOW) == 1200
    assert cache_lifetime({"expires": "0"}, NOW) == 0  # invalid Expires: already stale
    assert cache_lifetime({}, NOW) is None


def test_busy_feeds_are_polled_more_often_than_quiet_ones() -> None:
    busy = wait_after(ok_poll(entries_every(timedelta(minutes=10), 20)))
    quiet = wait_after(ok_poll(entries_every(timedelta(hours=3), 20)))
    dormant = wait_after(ok_poll(entries_every(timedelta(days=1), 5, NOW - timedelta(days=60))))
    assert busy == timedelta(minutes=10)
    assert quiet == timedelta(hours=3)
    assert dormant == timedelta(seconds=MAX)  # clamped to the max
    assert wait_after(ok_poll(entries_every(timedelta(seconds=5), 20))) == timedelta(seconds=MIN)


def test_silence_slows_a_feed_that_used_to_be_busy() -> None:
    was_busy = entries_every(timedelta(minutes=10), 20, NOW - timedelta(hours=4))
    assert observed_interval([e.published_at for e in was_busy], NOW) == 2 * 3600


def test_declared_ttl_and_cache_lifetime_are_floors() -> None:
    busy = entries_every(timedelta(minutes=10), 20)
    assert wait_after(ok_poll(busy, declared_interval_s=3600.0)) == timedelta(hours=1)
    assert wait_after(ok_poll(busy, cache_lifetime_s=1800.0)) == timedelta(minutes=30)
    # a declared interval beyond the max is clamped: we still look within max_interval
    assert wait_after(ok_poll(busy, declared_interval_s=7 * 86400.0)) == timedelta(seconds=MAX)


def test_retry_after_on_an_answer_is_honoured_beyond_the_max() -> None:
    busy = entries_every(timedelta(minutes=10), 20)
    assert wait_after(ok_poll(busy, retry_after_s=86400.0)) == timedelta(days=1)


def test_a_304_grows_the_previous_interval() -> None:
    prev = FeedState(
        "f", last_status="ok", last_polled_at=NOW - timedelta(hours=1), next_poll_at=NOW
    )
    poll = FeedPoll("f", "http://x/f", "not_modified", NOW, 304)
    assert wait_after(poll, prev) == timedelta(minutes=90)
    # the growth stops at the max
    long_prev = FeedState(
        "f", last_status="ok", last_polled_at=NOW - timedelta(hours=5), next_poll_at=NOW
    )
    assert wait_after(poll, long_prev) == timedelta(seconds=MAX)


def test_undated_entries_start_at_the_min_interval() -> None:
    undated = tuple(
        FeedEntry("f", f"g{i}", f"http://x/{i}", "t", "s", NOW, date_flag="missing")
        for i in range(3)
    )
    assert wait_after(ok_poll(undated)) == timedelta(seconds=MIN)
    assert poll_interval(CadenceInputs(), MIN, MAX) == MIN


def test_cadence_waits_only_count_for_the_watch_loop() -> None:
    healthy_waiting = FeedState(
        "a", last_status="ok", last_polled_at=NOW, next_poll_at=NOW + timedelta(hours=1)
    )
    backing_off = FeedState(
        "b",
        last_status="error",
        consecutive_failures=2,
        next_poll_at=NOW + timedelta(hours=1),
    )
    assert is_due(healthy_waiting, NOW)  # a by-hand run polls every healthy feed
    assert not is_due(healthy_waiting, NOW, respect_cadence=True)
    assert not is_due(backing_off, NOW)
    sources = [Source("a", "a", "http://x/a"), Source("b", "b", "http://x/b")]
    states = {"a": healthy_waiting, "b": backing_off}
    assert [s.id for s in due_sources(sources, states, NOW)] == ["a"]
    assert due_sources(sources, states, NOW, respect_cadence=True) == []


def test_new_interval_bounds_apply_to_feeds_scheduled_under_old_ones() -> None:
    # scheduled 6 h out under --max-interval 6h, then the watch restarts with 1h / 30m
    quiet = FeedState(
        "q", last_status="ok", last_polled_at=NOW, next_poll_at=NOW + timedelta(hours=6)
    )
    # scheduled 5 min out under --min-interval 5m
    busy = FeedState(
        "b", last_status="ok", last_polled_at=NOW, next_poll_at=NOW + timedelta(minutes=5)
    )
    failing = FeedState(
        "f", last_status="error", consecutive_failures=3, last_polled_at=NOW,
        next_poll_at=NOW + timedelta(hours=4),
    )  # fmt: skip
    bounds = (1800.0, 3600.0)
    assert cadence_due_at(quiet, bounds) == NOW + timedelta(hours=1)
    assert cadence_due_at(busy, bounds) == NOW + timedelta(minutes=30)
    assert cadence_due_at(failing, bounds) == NOW + timedelta(hours=4)  # backoff kept
    assert cadence_due_at(quiet) == NOW + timedelta(hours=6)  # no bounds: as stored
    in_61_min = NOW + timedelta(minutes=61)
    assert is_due(quiet, in_61_min, respect_cadence=True, bounds=bounds)
    assert not is_due(quiet, in_61_min, respect_cadence=True)
    in_10_min = NOW + timedelta(minutes=10)
    assert not is_due(busy, in_10_min, respect_cadence=True, bounds=bounds)
    assert is_due(busy, in_10_min, respect_cadence=True)
    sources = [Source(s, s, f"http://x/{s}") for s in "qbf"]
    states = {"q": quiet, "b": busy, "f": failing}
    assert next_due_at(sources, states, bounds) == NOW + timedelta(minutes=30)
    assert next_due_at(sources, states) == NOW + timedelta(minutes=5)
    due = due_sources(sources, states, in_61_min, respect_cadence=True, bounds=bounds)
    assert [s.id for s in due] == ["b", "q"]  # most overdue first, failing still waits
    assert next_due_at([*sources, Source("new", "new", "http://x/new")], states) is None


def test_failures_still_back_off_after_a_cadence() -> None:
    prev = next_state(None, ok_poll(entries_every(timedelta(minutes=10), 5)), NOW, SETTINGS)
    failed = FeedPoll("f", "http://x/f", "error", NOW, 429, error="HTTP 429", retry_after_s=7200)
    state = next_state(prev, failed, NOW, SETTINGS)
    assert state.consecutive_failures == 1
    assert state.next_poll_at == NOW + timedelta(hours=2)


def test_the_fetcher_surfaces_the_feed_and_cache_hints() -> None:
    feed = (
        b'<?xml version="1.0"?><rss version="2.0" '
        b'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>t</title>'
        b"<ttl>20</ttl><sy:updatePeriod>hourly</sy:updatePeriod>"
        b"<item><title>a</title><link>http://example.org/a</link></item></channel></rss>"
    )
    headers = {"Content-Type": "application/rss+xml", "Cache-Control": "max-age=900"}
    routes = {"/feed.xml": Route(200, feed, headers)}
    with serve(routes_handler(routes)) as base:  # type: ignore[arg-type]

        async def go() -> FeedPoll:
            settings = Settings(allow_private=("127.0.0.1",), respect_robots=False)
            async with Fetcher(settings) as fetcher:
                return await fetcher.poll_feed(Source("f", "f", f"{base}/feed.xml"), None)

        poll = asyncio.run(go())
    assert poll.status == "ok"
    assert poll.declared_interval_s == 1200
    assert poll.cache_lifetime_s == 900
