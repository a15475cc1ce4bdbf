"""Per-feed state between polls, pure: previous state + one poll outcome -> next state.

- ok / not_modified: failures reset, validators (ETag, Last-Modified) updated, the next
  poll after the feed's own cadence (``newswatch.extractors.cadence``: declared TTL / update period,
  Cache-Control, Retry-After, spacing of its entries), clamped to
  [settings.min_poll_interval, settings.max_poll_interval]. Only ``newswatch watch``
  (``respect_cadence=True``) waits for it; a by-hand run polls every healthy feed.
- error: failures + 1, validators kept, next poll after an exponential backoff
  (30 min, 1 h, 2 h, ... capped at 24 h) with ±20 % jitter, or after the feed's own
  Retry-After when that is later (capped at ``settings.max_retry_after``, 24 h by default).
  A Retry-After only ever defers the feed that sent it.
- retired: a ``410 Gone`` retires a feed at once; a feed that answered 404 on every poll
  (transport failures in between do not break the run of 404s, any other answer does) for
  ``settings.retire_after_404_days`` is retired too. ``retired_at`` is set and the feed is
  never due again until ``newswatch sources reset`` clears ``retired_at`` and
  ``gone_since``. Other failures never stop polling for good.

Jitter is derived from the source id and the failure count, so the function stays pure
(same inputs, same output) while failing feeds still spread out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from newswatch.core.records import FeedPoll, FeedState, Source
from newswatch.core.settings import Settings
from newswatch.extractors.cadence import CadenceInputs, observed_interval, poll_interval

FEED_BACKOFF_BASE = timedelta(minutes=30)
FEED_BACKOFF_CAP = timedelta(hours=24)
RETRY_AFTER_CAP = timedelta(hours=24)  # the default of settings.max_retry_after
JITTER = 0.2


class _Common(TypedDict):
    """The ``FeedState`` fields every poll sets, whatever its outcome."""

    source_id: str
    last_status: str | None
    last_http_status: int | None
    last_polled_at: datetime | None


def next_state(
    prev: FeedState | None, poll: FeedPoll, now: datetime, settings: Settings
) -> FeedState:
    """The state to store after ``poll``; ``settings`` gives the cadence bounds."""
    prev = prev or FeedState(source_id=poll.source_id)
    etag = poll.etag or prev.etag
    last_modified = poll.last_modified or prev.last_modified
    common: _Common = {
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
            next_poll_at=now + timedelta(seconds=healthy_interval(prev, poll, now, settings)),
            items_seen=items,
        )
    failures = prev.consecutive_failures + 1
    cap = timedelta(seconds=settings.max_retry_after)
    delay = failure_delay(poll.source_id, failures, poll.retry_after_s, cap=cap)
    gone_since = _gone_since(prev, poll, now)
    return FeedState(
        **common,
        etag=prev.etag,
        last_modified=prev.last_modified,
        last_error=poll.error,
        consecutive_failures=failures,
        last_success_at=prev.last_success_at,
        next_poll_at=now + delay,
        items_seen=prev.items_seen,
        retired_at=prev.retired_at or _retires_at(poll, gone_since, now, settings),
        gone_since=gone_since,
    )


def is_retired(state: FeedState | None) -> bool:
    """True for a feed retired by 410 Gone or lasting 404s (see the module docstring)."""
    return state is not None and state.retired_at is not None


def retirement_reason(state: FeedState) -> str:
    """One line saying why ``state``'s feed was retired ("" when it is not)."""
    if state.retired_at is None:
        return ""
    if state.last_http_status == 410:
        return "HTTP 410 Gone: the feed was removed"
    since = state.gone_since.strftime("%Y-%m-%d %H:%MZ") if state.gone_since else "?"
    return f"HTTP {state.last_http_status or 404} on every poll since {since}"


def _gone_since(prev: FeedState, poll: FeedPoll, now: datetime) -> datetime | None:
    """Start of the current run of 404/410 answers; an answer without a status (DNS,
    timeout) keeps it, any other answer ends it."""
    if poll.http_status in (404, 410):
        return prev.gone_since or now
    return prev.gone_since if poll.http_status is None else None


def _retires_at(
    poll: FeedPoll, gone_since: datetime | None, now: datetime, settings: Settings
) -> datetime | None:
    if poll.http_status == 410:
        return now
    patience = timedelta(days=settings.retire_after_404_days)
    if poll.http_status == 404 and gone_since is not None and now - gone_since >= patience:
        return now
    return None


def healthy_interval(
    prev: FeedState | None, poll: FeedPoll, now: datetime, settings: Settings
) -> float:
    """Seconds until the next poll of a feed that just answered (ok or 304)."""
    dated = [e.published_at for e in poll.entries if e.date_flag == "feed"]
    inputs = CadenceInputs(
        observed_s=observed_interval(dated, now) if dated else None,
        declared_s=poll.declared_interval_s,
        cache_lifetime_s=poll.cache_lifetime_s,
        retry_after_s=poll.retry_after_s,
        previous_s=previous_interval(prev),
        not_modified=poll.status == "not_modified",
    )
    return poll_interval(inputs, settings.min_poll_interval, settings.max_poll_interval)


def previous_interval(state: FeedState | None) -> float | None:
    """The cadence chosen after the last healthy poll, None when unknown or after failures."""
    if state is None or not on_cadence(state) or state.last_polled_at is None:
        return None
    if state.next_poll_at is None:
        return None
    seconds = (state.next_poll_at - state.last_polled_at).total_seconds()
    return seconds if seconds > 0 else None


def on_cadence(state: FeedState) -> bool:
    """True when ``next_poll_at`` is the feed's cadence, False when it is failure backoff."""
    return state.consecutive_failures == 0 and state.last_status in ("ok", "not_modified")


def failure_delay(
    source_id: str,
    failures: int,
    retry_after_s: float | None,
    *,
    cap: timedelta = RETRY_AFTER_CAP,
) -> timedelta:
    """How long to leave a feed alone after its ``failures``-th failure in a row; the
    feed's own Retry-After wins when later, up to ``cap``."""
    exponent = min(max(failures - 1, 0), 20)
    backoff = min(FEED_BACKOFF_BASE * (2**exponent), FEED_BACKOFF_CAP)
    backoff = min(backoff * _jitter_factor(source_id, failures), FEED_BACKOFF_CAP)
    if retry_after_s is not None and retry_after_s > 0:
        asked = min(timedelta(seconds=retry_after_s), cap)
        return max(backoff, asked)
    return backoff


Bounds = tuple[float, float]  # (min, max) poll interval in seconds, as settings hold them


def cadence_due_at(state: FeedState | None, bounds: Bounds | None = None) -> datetime | None:
    """When a feed is next due (None: never polled, due now).

    With ``bounds``, a healthy feed's stored cadence is clamped to the current
    ``[min, max]`` interval after its last poll, so new ``--min/--max-interval`` bounds apply
    to feeds scheduled under the old ones; failure backoff is never shortened.
    """
    if state is None or state.next_poll_at is None:
        return None
    if bounds is None or not on_cadence(state) or state.last_polled_at is None:
        return state.next_poll_at
    low, high = bounds
    earliest = state.last_polled_at + timedelta(seconds=low)
    latest = state.last_polled_at + timedelta(seconds=max(high, low))
    return min(max(state.next_poll_at, earliest), latest)


def is_due(
    state: FeedState | None,
    now: datetime,
    *,
    respect_cadence: bool = False,
    bounds: Bounds | None = None,
) -> bool:
    """True when a feed may be polled at ``now``: never polled, or its wait is over.

    Without ``respect_cadence`` only failure backoff holds a feed back (a by-hand run polls
    every healthy feed); with it, a healthy feed also waits for its cadence, clamped to
    ``bounds`` when given (see :func:`cadence_due_at`).
    """
    due_at = cadence_due_at(state, bounds)
    if state is None or due_at is None or due_at <= now:
        return True
    return on_cadence(state) and not respect_cadence


def due_sources(
    sources: Iterable[Source],
    states: Mapping[str, FeedState],
    now: datetime,
    *,
    respect_cadence: bool = False,
    force: bool = False,
    bounds: Bounds | None = None,
) -> list[Source]:
    """The enabled sources that are due, most overdue first (never-polled feeds lead).

    ``force`` (``newswatch run --force``) ignores cadence and failure backoff: every
    enabled source is due. ``bounds`` clamps healthy feeds' cadence (:func:`cadence_due_at`).
    """
    due = [
        s
        for s in sources
        if s.enabled
        and not is_retired(states.get(s.id))  # retired: only `sources reset` brings it back
        and (force or is_due(states.get(s.id), now, respect_cadence=respect_cadence, bounds=bounds))
    ]
    return sorted(due, key=lambda s: _due_since(states.get(s.id), bounds))


def next_due_at(
    sources: Iterable[Source], states: Mapping[str, FeedState], bounds: Bounds | None = None
) -> datetime | None:
    """The earliest time an enabled source is due under its cadence (None: one is due now)."""
    times = []
    for source in sources:
        state = states.get(source.id)
        if not source.enabled or is_retired(state):
            continue
        due_at = cadence_due_at(state, bounds)
        if due_at is None:
            return None
        times.append(due_at)
    return min(times) if times else None


def _due_since(state: FeedState | None, bounds: Bounds | None) -> datetime:
    due_at = cadence_due_at(state, bounds)
    return datetime.min.replace(tzinfo=UTC) if due_at is None else due_at


def _jitter_factor(source_id: str, failures: int) -> float:
    digest = hashlib.sha256(f"{source_id}:{failures}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64  # [0, 1)
    return 1.0 - JITTER + 2 * JITTER * unit
