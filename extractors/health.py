"""Feed health, pure: is a feed failing or has it gone quiet? One alert per episode.

- failing: ``consecutive_failures`` reached ``fail_after`` polls. The episode starts at the
  feed's last success (or "never" for a feed that never worked) and lasts until a success.
- retired: a 410 Gone, or 404s on every poll for days, retired the feed
  (``newswatch.extractors.feed_state``); the episode starts when it was retired and lasts until
  ``newswatch sources reset`` brings it back, so one alert per retirement.
- quiet: the feed polls fine but we have seen no new entry in it for longer than
  ``quiet_factor`` times its usual gap between entries (the median gap between its newest
  entries' own dates, at least ``min_quiet``); needs ``min_history`` dated entries to know
  its habit. Silence is measured from when we last saw a new entry (our clock, not the
  feed's dates, so a feed re-serving old items or one answering 304 is quiet, and a
  first poll of an old archive is not). The episode starts at that last new entry and lasts
  until a new one appears.

Health never changes polling (retirement is decided by ``newswatch.extractors.feed_state``): a
failing feed keeps its backoff schedule, a quiet one its cadence. The alert's ``story_id`` is
``feed:<source_id>:<episode start>``, so the outbox's (rule, story, channel) key makes it one
alert per episode however many runs see it.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from newswatch.core.records import AlertRecord, ArticleRecord, FeedState, Source
from newswatch.extractors.alerts import AlertConfig, alert_id
from newswatch.extractors.feed_state import retirement_reason

FAIL_AFTER = 3
QUIET_FACTOR = 4.0
MIN_HISTORY = 4
MIN_QUIET = timedelta(hours=6)
HISTORY_WINDOW = 20
ALERTED = frozenset({"retired", "failing", "quiet"})


@dataclass(frozen=True)
class FeedHealth:
    source_id: str
    status: str  # ok | retired | failing | quiet | unknown
    episode: str | None  # the episode's start (ISO minute) or "never"; None when ok
    detail: str


class FeedHistory(Protocol):
    """What the warehouse knows of a feed (``warehouse/health_queries.FeedHistory``)."""

    @property
    def entry_dates(self) -> Sequence[datetime]: ...  # its newest entries' own dates

    @property
    def last_new_at(self) -> datetime | None: ...  # when a new article of it was last stored


def feed_verdicts(
    states: Sequence[FeedState],
    histories: Mapping[str, FeedHistory],
    articles: Sequence[ArticleRecord],
    now: datetime,
) -> list[FeedHealth]:
    """The health of each polled feed (one verdict per state, in order), from its stored
    history and this run's new articles: their feed dates join its habit, their first
    sighting counts as a new entry seen."""
    verdicts = []
    for state in states:
        history = histories.get(state.source_id)
        mine = [a for a in articles if a.source_id == state.source_id]
        dates = [*(history.entry_dates if history else ())]
        dates += [a.published_at for a in mine if a.date_method == "feed" and a.published_at]
        seen = [a.first_seen_at for a in mine]
        if history and history.last_new_at:
            seen.append(history.last_new_at)
        verdicts.append(judge_feed(state, dates, max(seen, default=None), now))
    return verdicts


def judge_feed(
    state: FeedState | None,
    entry_dates: Iterable[datetime],
    last_new_at: datetime | None,
    now: datetime,
    *,
    fail_after: int = FAIL_AFTER,
    quiet_factor: float = QUIET_FACTOR,
    min_history: int = MIN_HISTORY,
    min_quiet: timedelta = MIN_QUIET,
) -> FeedHealth:
    """The health of one feed from its state, its entries' dates (its habit) and when we
    last saw a new entry in it."""
    source_id = state.source_id if state else ""
    if state is not None and state.retired_at is not None:
        detail = (
            f"retired {_iso(state.retired_at)}: {retirement_reason(state)};"
            f" not polled until `newswatch sources reset {source_id}`"
        )
        return FeedHealth(source_id, "retired", _iso(state.retired_at), detail)
    if state is not None and state.consecutive_failures >= fail_after:
        since = state.last_success_at
        detail = (
            f"failed {state.consecutive_failures} polls in a row"
            f" (last error: {state.last_error or state.last_http_status or 'unknown'});"
            f" last success {_iso(since) if since else 'never'}"
        )
        return FeedHealth(source_id, "failing", _iso(since) if since else "never", detail)
    newest = sorted({d for d in entry_dates if d <= now}, reverse=True)[:HISTORY_WINDOW]
    if len(newest) < min_history or last_new_at is None:
        return FeedHealth(source_id, "unknown", None, f"{len(newest)} dated entries known")
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(newest)]
    usual = timedelta(seconds=statistics.median(gaps))
    limit = max(usual * quiet_factor, min_quiet)
    silent = now - last_new_at
    if silent > limit:
        detail = (
            f"no new entry for {_span(silent)}; it usually publishes every {_span(usual)}"
            f" (alert after {_span(limit)})"
        )
        return FeedHealth(source_id, "quiet", _iso(last_new_at), detail)
    return FeedHealth(source_id, "ok", None, f"last new entry {_span(silent)} ago")


def health_alerts(
    config: AlertConfig,
    verdicts: Sequence[FeedHealth],
    sources: Sequence[Source],
    available_channels: set[str],
    now: datetime,
) -> list[AlertRecord]:
    """One ``feed_health`` alert per unhealthy feed episode and channel of each
    ``feed_health`` rule (rules' outlet filter applies)."""
    by_id = {s.id: s for s in sources}
    alerts: list[AlertRecord] = []
    for rule in (r for r in config.rules if r.kind == "feed_health"):
        for verdict in verdicts:
            if verdict.status not in ALERTED or verdict.episode is None:
                continue
            if rule.outlets and verdict.source_id not in rule.outlets:
                continue
            source = by_id.get(verdict.source_id)
            story = f"feed:{verdict.source_id}:{verdict.episode}"
            name = source.name if source else verdict.source_id
            for channel in (c for c in rule.channels if c in available_channels):
                identifier = alert_id(rule.name, story, channel)
                payload = {
                    "kind": "feed_health",
                    "headline": f"Feed {verdict.status}: {name}",
                    "outlet": name,
                    "source_id": verdict.source_id,
                    "status": verdict.status,
                    "snippet": verdict.detail,
                    "link": source.url if source else "",
                    "published": now.isoformat(),
                    "story_id": story,
                    "alert_id": identifier,
                }
                alerts.append(
                    AlertRecord(
                        alert_id=identifier,
                        rule=rule.name,
                        kind="feed_health",
                        story_id=story,
                        channel=channel,
                        delivery=rule.delivery,
                        created_at=now,
                        payload_json=json.dumps(payload, ensure_ascii=False),
                    )
                )
    return alerts


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
