"""Coarse Prefect tasks: each runs one stage over the whole batch (a task run costs ~20 ms).

No task retries in Prefect: network retries happen inside the Fetcher (transient errors,
backoff with jitter, Retry-After), and ``send-alerts`` must not re-send what a channel
accepted. Every task uses NO_CACHE: inputs are page bodies and records, not worth hashing,
and a second call must really write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from newswatch.core.records import (
    ExtractedArticle,
    FeedEntry,
    FeedPoll,
    IngestBatch,
    PageFetch,
    Source,
)
from newswatch.core.settings import Settings
from newswatch.extractors.alerts import AlertConfig
from newswatch.extractors.batch import Judged
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.matcher import Matcher
from newswatch.flows import stages
from newswatch.flows.alerting import SendReport, send_due_alerts
from newswatch.warehouse.load import LoadReport, load_staged, stage_batch
from newswatch.warehouse.snapshot import publish_snapshot


@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_feeds(
    sources: Sequence[Source],
    settings: Settings,
    respect_cadence: bool = False,
    max_feeds: int | None = None,
    force: bool = False,
) -> stages.PollOutcome:
    states = stages.read_feed_states(settings)
    return stages.poll(
        sources,
        states,
        settings,
        respect_cadence=respect_cadence,
        max_feeds=max_feeds,
        force=force,
    )


@task(name="select-new-entries", cache_policy=NO_CACHE)
def select_new_entries(polls: Sequence[FeedPoll], settings: Settings) -> list[FeedEntry]:
    return stages.new_entries(polls, settings)


@task(name="fetch-pages", cache_policy=NO_CACHE)
def fetch_pages(entries: Sequence[FeedEntry], settings: Settings) -> list[PageFetch]:
    return stages.fetch(entries, settings)


@task(name="extract-articles", cache_policy=NO_CACHE)
def extract_articles(
    pages: Sequence[PageFetch], entries: Sequence[FeedEntry], settings: Settings
) -> list[ExtractedArticle]:
    return stages.extract(pages, entries, settings)


@task(name="match-and-group", cache_policy=NO_CACHE)
def match_and_group(
    entries: Sequence[FeedEntry],
    pages: Sequence[PageFetch],
    articles: Sequence[ExtractedArticle],
    catalogue: Catalogue,
    settings: Settings,
) -> list[Judged]:
    return stages.judge(entries, pages, articles, Matcher(catalogue), settings)


@task(name="stage-batch", cache_policy=NO_CACHE)
def stage(batch: IngestBatch, settings: Settings) -> Path:
    return stage_batch(batch, settings.staging_dir)


# the plain function as it is: same arguments, same result
raise_alerts = task(name="raise-alerts", cache_policy=NO_CACHE)(stages.raise_alerts)


@task(name="send-alerts", cache_policy=NO_CACHE, retries=0)
def send_alerts(config: AlertConfig, settings: Settings) -> SendReport:
    return send_due_alerts(
        settings.db_path,
        config,
        datetime.now(UTC),
        data_dir=settings.data_dir,
        allow_private=settings.allow_private,
        lock_timeout=settings.db_lock_wait,
    )


@task(name="load-warehouse", cache_policy=NO_CACHE)
def load(settings: Settings) -> LoadReport:
    wait = settings.db_lock_wait
    report = load_staged(settings.db_path, settings.staging_dir, lock_timeout=wait)
    if report.batches_loaded:
        publish_snapshot(settings.db_path, settings.snapshot_path, lock_timeout=wait)
    return report
