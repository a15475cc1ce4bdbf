"""Feed health: a feed that keeps failing and one that stops publishing each raise ONE
``feed_health`` alert through the outbox, and both are still polled."""

from __future__ import annotations

import hashlib
import json
import textwrap
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import duckdb

from newswatch.core.records import ArticleRecord, FeedState, IngestBatch, RunRecord, Source
from newswatch.extractors.alerts import AlertConfig, Channel, Rule
from newswatch.extractors.health import health_alerts, judge_feed
from tests.localserver import Route, routes_handler, serve
from tests.trust_helpers import load_batch

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOURLY = [NOW - timedelta(hours=h) for h in range(1, 11)]
CONFIG = AlertConfig(
    channels=(Channel("ops", url="console://"),),
    rules=(Rule("feed-health", "feed_health", ("ops",)),),
)


def test_a_feed_failing_fewer_than_n_polls_is_not_yet_unhealthy() -> None:
    state = FeedState("a", consecutive_failures=2, last_success_at=NOW - timedelta(hours=3))
    assert judge_feed(state, HOURLY, NOW - timedelta(hours=1), NOW).status == "ok"


def test_a_feed_failing_n_polls_is_failing_since_its_last_success() -> None:
    success = NOW - timedelta(hours=3)
    state = FeedState("a", consecutive_failures=3, last_error="HTTP 503", last_success_at=success)
    health = judge_feed(state, HOURLY, NOW - timedelta(hours=1), NOW)
    assert (health.status, health.episode) == ("failing", "2026-03-02T09:00Z")
    assert "HTTP 503" in health.detail
    never = judge_feed(FeedState("b", consecutive_failures=5), [], None, NOW)
    assert (never.status, never.episode) == ("failing", "never")


def test_quiet_means_nothing_new_for_k_times_the_usual_gap() -> None:
    state = FeedState("a")
    last_new = NOW - timedelta(hours=7)  # hourly feed: 4 h (floor 6 h) of silence allowed
    health = judge_feed(state, HOURLY, last_new, NOW)
    assert (health.status, health.episode) == ("quiet", "2026-03-02T05:00Z")
    assert judge_feed(state, HOURLY, NOW - timedelta(hours=5), NOW).status == "ok"
    daily = [NOW - timedelta(days=d) for d in range(1, 8)]
    assert judge_feed(state, daily, NOW - timedelta(days=3), NOW).status == "ok"
    assert judge_feed(state, HOURLY[:2], last_new, NOW).status == "unknown"  # no habit yet


def test_one_alert_per_episode_named_after_the_feed_and_its_start() -> None:
    source = Source("a", "Alpha News", "https://alpha.example/feed.xml")
    state = FeedState("a", consecutive_failures=4, last_success_at=NOW - timedelta(days=1))
    verdict = judge_feed(state, [], None, NOW)
    first = health_alerts(CONFIG, [verdict], [source], {"ops"}, NOW)
    later = health_alerts(CONFIG, [verdict], [source], {"ops"}, NOW + timedelta(hours=5))
    assert [a.story_id for a in first] == ["feed:a:2026-03-01T12:00Z"]
    assert [a.alert_id for a in first] == [a.alert_id for a in later]
    payload = json.loads(first[0].payload_json)
    assert payload["headline"] == "Feed failing: Alpha News" and first[0].kind == "feed_health"
    assert health_alerts(CONFIG, [verdict], [source], set(), NOW) == []  # channel unset


# ------------------------------------------------------------------ a real flow run


def rss(base: str, items: list[tuple[str, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>{slug}</title><link>{base}/stopped/{slug}.html</link>"
        f"<guid>{base}/stopped/{slug}.html</guid><pubDate>{format_datetime(when)}</pubDate>"
        "</item>"
        for slug, when in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>s</title>'
        f"<link>{base}/</link>{body}</channel></rss>"
    ).encode()


def stored_history(base: str, items: list[tuple[str, datetime]], seen: datetime) -> IngestBatch:
    """The stopped feed's hourly entries, stored two days ago by an earlier run."""
    articles = []
    for slug, when in items:
        url = f"{base}/stopped/{slug}.html"
        articles.append(
            ArticleRecord(
                article_id=hashlib.sha1(url.encode()).hexdigest(),
                source_id="stopped",
                outlet="Stopped Feed",
                url=url,
                canonical_url=url,
                title=slug,
                text="Old news.",
                summary="",
                author=None,
                published_at=when,
                date_method="feed",
                first_seen_at=seen,
                language="en",
                status="ok",
                status_reason=None,
                content_hash=None,
                story_id=None,
                relevance=0.0,
                on_topic=False,
            )
        )
    run = RunRecord(run_id="history", started_at=seen, finished_at=seen)
    return IngestBatch(run=run, articles=tuple(articles))


def test_stopped_and_failing_feeds_each_raise_one_alert_and_stay_polled(
    prefect_harness: None, tmp_path: Path
) -> None:
    from newswatch.flows.ingest import ingest

    now = datetime.now(UTC)
    items = [(f"item-{h}", now - timedelta(days=2, hours=h)) for h in range(10)]
    routes: dict[str, Route] = {"/broken/feed.xml": Route(500, b"down", {})}
    for slug, _ in items:
        routes[f"/stopped/{slug}.html"] = Route(200, b"<html>old</html>", {})
    alerts_file = tmp_path / "health.jsonl"
    rules = tmp_path / "alerts.toml"
    rules.write_text(
        textwrap.dedent(
            f"""
            [[channel]]
            name = "ops"
            url = "file://{alerts_file}"

            [[rule]]
            name = "feed-health"
            kind = "feed_health"
            channels = ["ops"]
            """
        ),
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    with serve(routes_handler(routes)) as base:
        routes["/stopped/feed.xml"] = Route(
            200, rss(base, items), {"Content-Type": "application/rss+xml"}
        )
        load_batch(stored_history(base, items, now - timedelta(days=2)), db)
        sources = tmp_path / "sources.toml"
        sources.write_text(
            f'[[source]]\nid = "stopped"\nname = "Stopped Feed"\nurl = "{base}/stopped/feed.xml"\n'
            f'\n[[source]]\nid = "broken"\nname = "Broken Feed"\nurl = "{base}/broken/feed.xml"\n',
            encoding="utf-8",
        )
        args = {"sources": str(sources), "db": str(db), "allow_private": ["127.0.0.1"]}
        for _ in range(4):
            ingest(alerts=str(rules), **args)
            with duckdb.connect(str(db)) as con:  # time passes: the backoff has elapsed
                con.execute("UPDATE feed_state SET next_poll_at = now() - INTERVAL 1 MINUTE")

    with duckdb.connect(str(db), read_only=True) as con:
        polls = dict(
            con.execute("SELECT source_id, count(*) FROM feed_polls GROUP BY 1").fetchall()
        )
        alerts = con.execute(
            "SELECT kind, story_id, status FROM alerts ORDER BY story_id"
        ).fetchall()
    assert polls == {"broken": 4, "stopped": 4}  # still polled, every run
    assert [(kind, status) for kind, _, status in alerts] == [("feed_health", "sent")] * 2
    assert alerts[0][1].startswith("feed:broken:never")
    assert alerts[1][1].startswith("feed:stopped:")
    delivered = [json.loads(line) for line in alerts_file.read_text().splitlines()]
    assert sorted(d["title"] for d in delivered) == [
        "Feed failing: Broken Feed",
        "Feed quiet: Stopped Feed",
    ]


def test_a_database_file_never_migrated_has_no_feed_history(tmp_path: Path) -> None:
    from newswatch.warehouse.health_queries import feed_histories

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()  # e.g. created by another process holding the lock
    assert feed_histories(empty) == {}
