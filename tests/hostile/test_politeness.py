"""Politeness scoped right, against real local servers: a Retry-After defers only the feed
that sent it, 410 Gone retires a feed at once (with a feed-health alert, shown by
``newswatch status``), and a feed answering 404 for days is retired too."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.records import FeedPoll, FeedState, IngestBatch, RunRecord, Source
from newswatch.extractors.alerts import AlertConfig, Channel, Rule
from newswatch.extractors.feed_state import due_sources, is_retired, next_state
from newswatch.extractors.health import health_alerts, judge_feed
from newswatch.flows import stages
from newswatch.warehouse import queries
from newswatch.warehouse.load import load_staged, stage_batch
from tests.hostile.helpers import HOSTILE_SETTINGS, poll
from tests.hostile.server import feed_route, item, rss
from tests.localserver import RecordedRequest, Route, routes_handler, serve

HEALTH = AlertConfig(
    channels=(Channel("ops", url="console://"),),
    rules=(Rule("feed-health", "feed_health", ("ops",)),),
)
DAY = timedelta(days=1)


def feed_of(n: int) -> bytes:
    return rss("".join(item(n * 100 + k) for k in range(2)))


def test_one_feeds_retry_after_defers_that_feed_not_the_13_others_on_its_host(
    tmp_path: Path,
) -> None:
    """14 feeds on one host; one answers 503 Retry-After: 86400. The other 13 are polled
    (with their entries) in this run and the next; the one waits 24 h."""
    log: list[RecordedRequest] = []
    routes: dict[str, Route] = {f"/f{n}.xml": feed_route(feed_of(n)) for n in range(13)}
    routes["/busy.xml"] = Route(503, b"", {"Retry-After": "86400"})
    settings = replace(HOSTILE_SETTINGS, max_per_host=2, db_path=tmp_path / "none.duckdb")
    with serve(routes_handler(routes, log)) as base:
        sources = [Source(f"f{n}", f"F{n}", f"{base}/f{n}.xml") for n in range(13)]
        sources.append(Source("busy", "Busy", f"{base}/busy.xml"))
        first = stages.poll(sources, {}, settings)
        states = {s.source_id: s for s in first.states}
        second = stages.poll(sources, states, settings)
    by_id = {p.source_id: p for p in first.polls}
    assert len(first.polls) == 14
    assert all(by_id[f"f{n}"].status == "ok" for n in range(13))
    assert len(stages.new_entries(first.polls, settings)) == 26
    busy = by_id["busy"]
    assert (busy.status, busy.http_status, busy.retry_after_s) == ("error", 503, 86400)
    wait = states["busy"].next_poll_at - states["busy"].last_polled_at  # type: ignore[operator]
    assert wait == timedelta(seconds=86400)  # the feed's own Retry-After (cap: 24 h)
    for n in range(13):
        healthy = states[f"f{n}"]
        assert healthy.consecutive_failures == 0
        assert healthy.next_poll_at - healthy.last_polled_at <= timedelta(hours=6)  # type: ignore[operator]
    # the next run: the 13 are polled again (entries and all), the busy one is left alone
    assert sorted(p.source_id for p in second.polls) == sorted(f"f{n}" for n in range(13))
    assert all(p.status == "ok" and len(p.entries) == 2 for p in second.polls)
    assert [s.id for s in second.skipped] == ["busy"]
    assert [r.path for r in log].count("/busy.xml") == 1


def test_a_retry_after_beyond_the_cap_defers_the_feed_for_the_cap() -> None:
    settings = replace(HOSTILE_SETTINGS, max_retry_after=3600.0)
    with serve(routes_handler({"/f.xml": Route(503, b"", {"Retry-After": "999999"})})) as base:
        (result,) = poll([Source("f", "F", f"{base}/f.xml")], settings=settings)
    now = datetime.now(UTC)
    state = next_state(None, result, now, settings)
    assert state.next_poll_at == now + timedelta(hours=1)


def test_410_gone_retires_the_feed_at_once_with_an_alert_and_status_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log: list[RecordedRequest] = []
    routes = {"/gone.xml": Route(410, b"gone"), "/live.xml": feed_route(feed_of(1))}
    db = tmp_path / "nw.duckdb"
    settings = replace(HOSTILE_SETTINGS, db_path=db)
    with serve(routes_handler(routes, log)) as base:
        sources = [
            Source("gone", "Gone Gazette", f"{base}/gone.xml"),
            Source("live", "Live Ledger", f"{base}/live.xml"),
        ]
        outcome = stages.poll(sources, {}, settings)
        gone = next(s for s in outcome.states if s.source_id == "gone")
        assert is_retired(gone) and gone.retired_at is not None
        assert gone.consecutive_failures == 1  # at once: not after N failures

        alerts = stages.feed_health_alerts(HEALTH, outcome.states, sources, [], settings)
        [alert] = alerts
        payload = json.loads(alert.payload_json or "{}")
        assert payload["headline"] == "Feed retired: Gone Gazette"
        assert "HTTP 410 Gone" in payload["snippet"]
        assert "newswatch sources reset gone" in payload["snippet"]
        assert alert.story_id == f"feed:gone:{gone.retired_at:%Y-%m-%dT%H:%MZ}"

        started = datetime.now(UTC)
        batch = IngestBatch(
            run=RunRecord("r1", started, started, feeds_polled=2, feeds_failed=1),
            feed_polls=tuple(outcome.polls),
            feed_states=tuple(outcome.states),
            sources=tuple(sources),
            alerts=tuple(alerts),
        )
        stage_batch(batch, settings.staging_dir)
        assert load_staged(db, settings.staging_dir).batches_left == 0
        stored = queries.feed_states(db)
        assert stored["gone"].retired_at == gone.retired_at  # survives the warehouse

        before = len(log)
        later = stages.poll(sources, stored, settings)  # the next run
        assert [p.source_id for p in later.polls] == ["live"]
        assert all(r.path != "/gone.xml" for r in log[before:])
        later_on = due_sources(sources, stored, datetime.now(UTC) + 30 * DAY)
        assert [s.id for s in later_on] == ["live"]  # a month later: still retired

    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "Retired feeds (not polled)" in out
    assert "HTTP 410 Gone: the feed was removed" in out
    assert "newswatch sources reset gone" in out
    assert "1 retired" in out


def polled(server_base: str, status: int, when: datetime) -> FeedPoll:
    (result,) = poll([Source("f", "F", f"{server_base}/f.xml")])
    assert result.http_status == status
    return replace(result, fetched_at=when)


def test_a_feed_answering_404_for_seven_days_is_retired_and_not_before() -> None:
    """Days are simulated by passing ``now``; every poll is a real request."""
    start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    settings = HOSTILE_SETTINGS  # retire_after_404_days = 7
    with serve(routes_handler({})) as base:  # every path: 404
        state: FeedState | None = None
        for day in (0, 1, 3, 6):
            state = next_state(state, polled(base, 404, start), start + day * DAY, settings)
            assert not is_retired(state), day
            assert state.gone_since == start
        health = judge_feed(state, [], None, start + 6 * DAY)
        assert health.status == "failing"  # failing, yet still polled
        state = next_state(state, polled(base, 404, start), start + 7 * DAY, settings)
    assert is_retired(state) and state.retired_at == start + 7 * DAY
    health = judge_feed(state, [], None, start + 7 * DAY)
    assert health.status == "retired"
    assert "HTTP 404 on every poll since 2026-03-01 06:00Z" in health.detail
    [alert] = health_alerts(HEALTH, [health], [Source("f", "F", "http://x/f")], {"ops"}, start)
    assert json.loads(alert.payload_json or "{}")["headline"] == "Feed retired: F"


def test_a_feed_that_comes_back_between_404s_starts_its_seven_days_again() -> None:
    start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    settings = HOSTILE_SETTINGS
    routes = {"/f.xml": feed_route(feed_of(1))}
    with serve(routes_handler({})) as missing, serve(routes_handler(routes)) as live:
        state = next_state(None, polled(missing, 404, start), start, settings)
        state = next_state(state, polled(live, 200, start), start + 4 * DAY, settings)
        assert state.gone_since is None
        state = next_state(state, polled(missing, 404, start), start + 5 * DAY, settings)
        state = next_state(state, polled(missing, 404, start), start + 8 * DAY, settings)
    assert not is_retired(state)  # 404 since day 5 only: 3 days
    assert state.gone_since == start + 5 * DAY
