"""Coarse Prefect tasks: each runs one stage over the whole batch (a task run costs ~20 ms).

Only network stages retry; writing stages use NO_CACHE so a second call really writes.
Every task uses NO_CACHE: inputs are page bodies and records, not worth hashing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from extractors.entities import Catalogue
from extractors.matcher import Matcher
from prefect import task
from prefect.cache_policies import NO_CACHE
from warehouse.load import LoadReport, load_staged, stage_batch
from warehouse.snapshot import publish_snapshot

from extractors.models import (
    ExtractedArticle,
    FeedEntry,
    FeedPoll,
    FeedState,
    IngestBatch,
    PageFetch,
    Source,
)
from flows import stages
from newswatch.settings import Settings


@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_feeds(
    sources: Sequence[Source], settings: Settings
) -> tuple[list[FeedPoll], list[FeedState]]:
    states = stages.read_feed_states(settings)
    return stages.poll(sources, states, settings)


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
) -> list[stages.Judged]:
    return stages.judge(entries, pages, articles, Matcher(catalogue), settings)


@task(name="stage-batch", cache_policy=NO_CACHE)
def stage(batch: IngestBatch, settings: Settings) -> Path:
    return stage_batch(batch, settings.staging_dir)


@task(name="load-warehouse", cache_policy=NO_CACHE)
def load(settings: Settings) -> LoadReport:
    report = load_staged(settings.db_path, settings.staging_dir)
    if report.batches_loaded:
        publish_snapshot(settings.db_path, settings.snapshot_path)
    return report
