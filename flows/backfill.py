"""The ``backfill`` flow: sources' sitemaps -> pages dated in [since, until] -> DuckDB.

History goes through the ingest's own stages (``flows/stages.py`` via ``flows/tasks.py``:
new entries, fetch, extract, match and group, stage, load) in batches, each loaded before
the next starts, so a killed backfill re-run skips what is stored (known URLs + idempotent
loads) and loads what was staged but not loaded. Backfilled history raises no alerts and
records no emerging terms: it is old news, not news. The crawl and the choice of pages are
``extractors/sitemap_crawl.py``; the batch is built by ``extractors/batch.py``.

Extraction runs in this process (a process pool of ``settings.workers``) or, with a Dask
task runner (``run_backfill(dask=True)``), as one task per chunk of ``CHUNK_PAGES`` pages on
a Dask cluster (a task run costs ~20-45 ms here, so never one task per page).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch, Source
from newswatch.core.settings import DEFAULT_SOURCES, Settings
from newswatch.core.summaries import BackfillSummary
from newswatch.extractors import sitemap_crawl
from newswatch.extractors.batch import assemble, chunks, history_batch, run_record
from newswatch.extractors.entities import Catalogue, load_catalogue
from newswatch.extractors.sitemap_crawl import Discovery, Selection, choose_sources, parse_day
from newswatch.extractors.sources import load_sources
from newswatch.flows import stages, tasks
from newswatch.flows.progress import progress_bar
from newswatch.flows.writer import one_writer
from newswatch.warehouse.load import LoadReport, load_staged
from newswatch.warehouse.snapshot import publish_snapshot

CHUNK_PAGES = 25  # pages per Dask task


@task(name="read-sitemaps", cache_policy=NO_CACHE, retries=1)
def read_sitemaps(
    sources: Sequence[Source], since: datetime, settings: Settings
) -> list[Discovery]:
    return sitemap_crawl.discover(sources, since, settings)


@task(name="select-backfill-pages", cache_policy=NO_CACHE)
def select_pages(
    discoveries: Sequence[Discovery],
    since: datetime,
    until: datetime | None,
    settings: Settings,
) -> Selection:
    """Pages dated in [since, until] (undated kept), minus those already stored."""
    found = sitemap_crawl.listing(discoveries, since, until, datetime.now(UTC))
    # the ingest's own dedup + known URLs; due page retries are left to the ingest (alerts)
    fresh = stages.new_entries(found.polls, settings, retry_failed=False)
    return sitemap_crawl.selection(found, fresh)


@task(name="extract-chunk", cache_policy=NO_CACHE)
def extract_chunk(
    pages: Sequence[PageFetch], entries: Sequence[FeedEntry], settings: Settings
) -> list[ExtractedArticle]:
    """One chunk on one Dask worker (which is itself one process: no pool inside)."""
    return stages.extract(pages, entries, replace(settings, extract_workers=1))


@task(name="load-batch", cache_policy=NO_CACHE)
def load_batch(settings: Settings) -> LoadReport:
    return load_staged(settings.db_path, settings.staging_dir, lock_timeout=settings.db_lock_wait)


def extract_on_runner(
    pages: Sequence[PageFetch], entries: Sequence[FeedEntry], settings: Settings
) -> list[ExtractedArticle]:
    """Submit one task per chunk to the flow's task runner; results in input order."""
    futures = [
        extract_chunk.submit(page_chunk, entry_chunk, settings)
        for page_chunk, entry_chunk in zip(
            chunks(pages, CHUNK_PAGES), chunks(entries, CHUNK_PAGES), strict=True
        )
    ]
    return [article for future in futures for article in future.result()]


@dataclass(frozen=True)
class BatchLoaded:
    """One backfill batch, fetched, staged and loaded."""

    report: LoadReport
    pages_failed: int
    on_topic: int


def load_history(
    entries: Sequence[FeedEntry],
    sources: Sequence[Source],
    catalogue: Catalogue,
    settings: Settings,
    chunked_extraction: bool,
) -> BatchLoaded:
    """One batch through the ingest's tasks: fetch, extract, match, stage, load."""
    started_at = datetime.now(UTC)
    pages = tasks.fetch_pages(entries, settings)
    if chunked_extraction:
        articles = extract_on_runner(pages, entries, settings)
    else:
        articles = tasks.extract_articles(pages, entries, settings)
    judged = tasks.match_and_group(entries, pages, articles, catalogue, settings)
    assembled = assemble(judged, sources, started_at)
    run = run_record(assembled, started_at, catalogue, settings, flow_run.get_id())
    tasks.stage(history_batch(assembled, run, catalogue, sources), settings)
    report = load_batch(settings)
    return BatchLoaded(report, sum(p.status != "ok" for p in pages), assembled.on_topic)


@flow(name="backfill", log_prints=False)
@one_writer("backfill flow run")  # one writer per data dir; re-entrant
def backfill(
    since: str,
    until: str | None = None,
    sources: str = str(DEFAULT_SOURCES),
    source_ids: list[str] | None = None,
    db: str | None = None,
    allow_private: list[str] | None = None,
    batch_size: int = 100,
    chunked_extraction: bool = False,
    progress: bool = False,
    catalogue: str | None = None,
) -> BackfillSummary:
    """Load the history the sources' sitemaps list between ``since`` and ``until``.

    ``chunked_extraction`` sends extraction to the flow's task runner in chunks (set by
    ``run_backfill`` with a DaskTaskRunner). ``progress`` draws a rich progress bar on
    stderr. ``catalogue`` is the entity catalogue's path (default: the bundled
    seeds/entities.toml). Safe to re-run and to kill: each batch is loaded before the next
    is fetched.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    since_at, until_at = parse_day(since), parse_day(until, end_of_day=True) if until else None
    settings = Settings.from_env(
        db_path=Path(db) if db else None,
        allow_private=tuple(allow_private) if allow_private else None,
    )
    entity_catalogue = load_catalogue(Path(catalogue) if catalogue else None)
    chosen = choose_sources(load_sources(Path(sources)), source_ids)

    discoveries = read_sitemaps(chosen, since_at, settings)
    selection = select_pages(discoveries, since_at, until_at, settings)
    sitemap_errors = sitemap_crawl.sitemap_errors(discoveries)
    for error in sitemap_errors:
        logger.warning("sitemap problem: %s", error)

    done: list[BatchLoaded] = []
    with progress_bar(len(selection.entries), enabled=progress) as advance:
        for number, entries in enumerate(chunks(selection.entries, batch_size), 1):
            done.append(
                load_history(entries, chosen, entity_catalogue, settings, chunked_extraction)
            )
            logger.info("batch %d: %s", number, done[-1].report.message)
            advance(len(entries))
    reports = [batch.report for batch in done]
    if any(report.batches_loaded for report in reports):
        publish_snapshot(
            settings.db_path, settings.snapshot_path, lock_timeout=settings.db_lock_wait
        )

    summary = BackfillSummary(
        sources=len(chosen),
        sitemaps_read=sum(d.sitemaps_read for d in discoveries),
        sitemap_errors=sitemap_errors,
        urls_listed=selection.listed,
        urls_in_range=selection.in_range,
        undated_kept=selection.undated,
        already_stored=selection.in_range - len(selection.entries),
        pages_to_fetch=len(selection.entries),
        pages_failed=sum(batch.pages_failed for batch in done),
        batches=len(done),
        articles_added=sum(r.articles_added for r in reports),
        on_topic_articles=sum(batch.on_topic for batch in done),
        mentions_added=sum(r.mentions_added for r in reports),
        batches_left=reports[-1].batches_left if reports else 0,
        extraction="dask" if chunked_extraction else "in-process",
        seconds=time.perf_counter() - started,
    )
    create_markdown_artifact(summary.to_markdown(), key="backfill-summary")
    logger.info(summary.to_markdown())
    return summary


def run_backfill(
    *,
    dask: bool = False,
    dask_workers: int = 2,
    dask_address: str | None = None,
    **parameters: object,
) -> BackfillSummary:
    """Run the flow, with extraction on a Dask cluster when ``dask`` or ``dask_address``.

    ``dask_address`` (``tcp://host:8786``) uses an existing scheduler; otherwise a
    LocalCluster of ``dask_workers`` single-threaded worker processes lives for the run.
    """
    # the ignores below: ``parameters`` are the flow's own keyword parameters, passed through
    # untyped from the command line; Prefect's Flow.__call__ overloads want each one typed
    if not (dask or dask_address):
        return backfill(**parameters)  # type: ignore[call-overload]
    from prefect_dask import DaskTaskRunner

    runner = (
        DaskTaskRunner(address=dask_address)
        if dask_address
        else DaskTaskRunner(
            cluster_kwargs={
                "n_workers": dask_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    )
    return backfill.with_options(task_runner=runner)(  # type: ignore[arg-type,call-overload]
        chunked_extraction=True, **parameters
    )


__all__ = [
    "CHUNK_PAGES",
    "backfill",
    "extract_on_runner",
    "run_backfill",
]
