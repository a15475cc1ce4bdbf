"""Per-feed poll cadence, pure: how long to leave a healthy feed alone after a poll.

What the feed says and what it does, in that order of trust:

- the server: ``Retry-After`` (a demand: honoured even above the max, up to 7 days) and
  ``Cache-Control: max-age`` / ``Expires`` (the document will not change before then);
- the document: RSS ``<ttl>`` (minutes) and ``sy:updatePeriod`` / ``sy:updateFrequency``;
- the entries: the median gap between the newest entries' dates, stretched to half of the
  silence since the newest one (a feed quiet for a day is polled every ~12 h, a feed that
  publishes every 2 minutes every 2 minutes). A 304 carries no entries: the previous
  interval grows by half.

Declared and observed figures are combined as ``max(observed, declared)`` (never sooner
than the feed asks), then clamped to ``[min_interval, max_interval]``. Failure backoff lives
in ``newswatch.extractors.feed_state``.
"""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP_S = 7 * 24 * 3600.0
OBSERVED_WINDOW = 20  # newest entries whose spacing is measured
QUIET_GROWTH = 1.5  # a 304 (no entries to look at) grows the previous interval by this
SY_PERIODS_S = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)
DATED_FLAGS = frozenset({"feed"})  # entries whose date came from the feed itself


@dataclass(frozen=True)
class CadenceInputs:
    """Everything one poll tells about the feed's pace, in seconds (None: not said)."""

    observed_s: float | None = None  # from the entries' dates
    declared_s: float | None = None  # <ttl> or sy:updatePeriod/updateFrequency
    cache_lifetime_s: float | None = None  # Cache-Control max-age / Expires
    retry_after_s: float | None = None
    previous_s: float | None = None  # the interval chosen after the previous poll
    not_modified: bool = False


def ttl_seconds(value: object) -> float | None:
    """RSS ``<ttl>`` (minutes) in seconds; None when absent, malformed or not positive."""
    try:
        minutes = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes * 60 if 0 < minutes < 1e7 else None


def update_period_seconds(period: object, frequency: object = None) -> float | None:
    """``sy:updatePeriod`` / ``sy:updateFrequency`` as seconds between updates."""
    if period is None and frequency is None:
        return None
    span = SY_PERIODS_S.get(str(period or "daily").strip().lower())
    if span is None:
        return None
    try:
        times = float(str(frequency).strip()) if frequency is not None else 1.0
    except ValueError:
        times = 1.0
    return span / times if times >= 1 else span


def declared_interval(feed_meta: Mapping[str, object]) -> float | None:
    """The interval a parsed feed's channel declares (feedparser keys), the shorter wins."""
    candidates = [
        ttl_seconds(feed_meta.get("ttl")) if feed_meta.get("ttl") is not None else None,
        update_period_seconds(
            feed_meta.get("sy_updateperiod"), feed_meta.get("sy_updatefrequency")
        ),
    ]
    found = [c for c in candidates if c is not None]
    return min(found) if found else None


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the response stays fresh per Cache-Control max-age, else Expires."""
    control = headers.get("cache-control") or ""
    if NO_CACHE.search(control):
        return 0.0
    match = MAX_AGE.search(control)
    if match:
        return float(match.group(1))
    expires = headers.get("expires")
    if not expires:
        return None
    try:
        when = parsedate_to_datetime(expires)
    except (TypeError, ValueError, IndexError):
        return 0.0  # RFC 9111: an invalid Expires means already expired
    if when.tzinfo is None:
        return 0.0
    return max(0.0, (when - now).total_seconds())


def observed_interval(published: Sequence[datetime], now: datetime) -> float | None:
    """Median gap between the newest entries, at least half the silence since the newest.

    ``published`` are entry dates (any order). None without any date.
    """
    dates = sorted({d for d in published if d <= now}, reverse=True)[:OBSERVED_WINDOW]
    if not dates:
        return None
    silence = (now - dates[0]).total_seconds()
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(dates)]
    median_gap = statistics.median(gaps) if gaps else silence
    return max(median_gap, silence / 2)


def poll_interval(inputs: CadenceInputs, min_s: float, max_s: float) -> float:
    """Seconds until the next poll of a feed that answered (ok or 304)."""
    if inputs.observed_s is not None and not inputs.not_modified:
        base = inputs.observed_s
    elif inputs.previous_s:
        base = inputs.previous_s * (QUIET_GROWTH if inputs.not_modified else 1.0)
    else:
        base = min_s  # nothing known yet: stay fresh until the feed tells more
    floors = [v for v in (inputs.declared_s, inputs.cache_lifetime_s) if v]
    interval = min(max(base, *floors, min_s), max_s)
    if inputs.retry_after_s and inputs.retry_after_s > 0:
        interval = max(interval, min(inputs.retry_after_s, RETRY_AFTER_CAP_S))
    return interval


__all__ = [
    "CadenceInputs",
    "cache_lifetime",
    "declared_interval",
    "observed_interval",
    "poll_interval",
    "ttl_seconds",
    "update_period_seconds",
]
