"""The ``backfill`` flow: sources' sitemaps -> pages dated in [since, until] -> DuckDB.

History goes through the ingest's own stages (``flows/stages.py`` via ``flows/tasks.py``:
new entries, fetch, extract, match and group, stage, load) in batches, each loaded before
the next starts, so a killed backfill re-run skips what is stored (known URLs + idempotent
loads) and loads what was staged but not loaded. Backfilled history raises no alerts and
records no emerging terms: it is old news, not news.

Extraction runs in this process (a process pool of ``settings.workers``) or, with a Dask
task runner (``run_backfill(dask=True)``), as one task per chunk of ``CHUNK_PAGES`` pages on
a Dask cluster (a task run costs ~20-45 ms here, so never one task per page).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from newswatch.core.errors import ConfigError, FetchError
from newswatch.core.records import (
    ExtractedArticle,
    FeedEntry,
    FeedPoll,
    IngestBatch,
    PageFetch,
    RunRecord,
    Source,
)
from newswatch.core.settings import DEFAULT_SOURCES, Settings
from newswatch.extractors.dates import parse_iso
from newswatch.extractors.entities import load_catalogue
from newswatch.extractors.http import Fetcher, status_error
from newswatch.extractors.provenance import package_versions, settings_json
from newswatch.extractors.sitemaps import (
    MAX_SITEMAP_BYTES,
    SitemapEntry,
    feed_entries,
    parse_sitemap,
    within,
)
from newswatch.extractors.sources import load_sources
from newswatch.flows import stages, tasks
from newswatch.flows.writer import one_writer
from newswatch.warehouse.load import LoadReport, load_staged
from newswatch.warehouse.snapshot import publish_snapshot

CHUNK_PAGES = 25  # pages per Dask task
MAX_SITEMAPS_PER_SOURCE = 200  # index children included
MAX_INDEX_DEPTH = 3


@dataclass(frozen=True)
class Discovery:
    """What one source's sitemap (and its index children) listed."""

    source_id: str
    sitemap_url: str
    pages: tuple[SitemapEntry, ...]
    sitemaps_read: int
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackfillSummary:
    sources: int
    sitemaps_read: int
    sitemap_errors: tuple[str, ...]
    urls_listed: int
    urls_in_range: int
    undated_kept: int
    already_stored: int
    pages_to_fetch: int
    pages_failed: int
    batches: int
    articles_added: int
    on_topic_articles: int
    mentions_added: int
    batches_left: int
    extraction: str  # in-process | dask
    seconds: float

    def to_markdown(self) -> str:
        lines = [
            "# newswatch backfill",
            "",
            "| sitemaps | URLs listed | in range | undated kept | already stored | fetched "
            "| failed | articles added | on-topic | batches | extraction | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {self.sitemaps_read} | {self.urls_listed} | {self.urls_in_range} "
            f"| {self.undated_kept} | {self.already_stored} | {self.pages_to_fetch} "
            f"| {self.pages_failed} | {self.articles_added} | {self.on_topic_articles} "
            f"| {self.batches} | {self.extraction} | {self.seconds:.1f} |",
        ]
        if self.sitemap_errors:
            lines += ["", "## Sitemap problems", ""]
            lines += [f"- {error}" for error in self.sitemap_errors]
        return "\n".join(lines)


# ----------------------------------------------------------------- plain functions


def discover(sources: Sequence[Source], since: datetime, settings: Settings) -> list[Discovery]:
    """Read every source's sitemap (following sitemap indexes) with the project's Fetcher."""

    async def go() -> list[Discovery]:
        async with Fetcher(settings) as fetcher:
            return list(await asyncio.gather(*(_discover(fetcher, s, since) for s in sources)))

    return stages.run_async(go())


async def _discover(fetcher: Fetcher, source: Source, since: datetime) -> Discovery:
    assert source.sitemap is not None
    queue: list[tuple[str, int]] = [(source.sitemap, 0)]
    seen: set[str] = set()
    pages: list[SitemapEntry] = []
    errors: list[str] = []
    notes: list[str] = []
    while queue and len(seen) < MAX_SITEMAPS_PER_SOURCE:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            response = await fetcher.get(url, max_bytes=MAX_SITEMAP_BYTES, truncate=True)
        except FetchError as exc:
            errors.append(f"{source.id}: {url}: {exc}")
            continue
        failure = status_error(response)
        if failure is not None:
            errors.append(f"{source.id}: {url}: {failure}")
            continue
        sitemap = parse_sitemap(response.body, response.final_url or url)
        pages.extend(sitemap.pages)
        notes.extend(f"{url}: {note}" for note in sitemap.notes)
        if depth < MAX_INDEX_DEPTH:
            # a child sitemap last modified before `since` lists no page modified since
            queue.extend(
                (child.url, depth + 1)
                for child in sitemap.sitemaps
                if child.published_at is None or child.published_at >= since
            )
    if queue:
        notes.append(f"stopped after {MAX_SITEMAPS_PER_SOURCE} sitemaps")
    return Discovery(
        source.id, source.sitemap, tuple(pages), len(seen), tuple(errors), tuple(notes)
    )


@dataclass(frozen=True)
class Selection:
    entries: list[FeedEntry]  # not stored yet, newest first
    listed: int
    in_range: int
    undated: int


def select(
    discoveries: Sequence[Discovery],
    since: datetime,
    until: datetime | None,
    settings: Settings,
) -> Selection:
    """Pages dated in [since, until] (undated kept), minus those already stored."""
    found_at = datetime.now(UTC)
    polls: list[FeedPoll] = []
    listed = in_range = 0
    for found in discoveries:
        kept = within(found.pages, since, until)
        listed += len(found.pages)
        in_range += len(kept)
        entries = feed_entries(kept, found.source_id, found_at)
        polls.append(
            FeedPoll(found.source_id, found.sitemap_url, "ok", found_at, entries=tuple(entries))
        )
    # the ingest's own dedup + known URLs; due page retries are left to the ingest (alerts)
    fresh = stages.new_entries(polls, settings, retry_failed=False)
    fresh.sort(key=lambda e: (e.date_flag == "missing", -e.published_at.timestamp(), e.link))
    undated = sum(e.date_flag == "missing" for e in fresh)
    return Selection(fresh, listed, in_range, undated)


def batches(items: Sequence[FeedEntry], size: int) -> Iterator[list[FeedEntry]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start : start + max(1, size)])


def batch_record(
    judged: Sequence[stages.Judged],
    sources: Sequence[Source],
    catalogue_entities: tuple[object, ...],
    catalogue_version: str,
    started_at: datetime,
    settings: Settings,
) -> IngestBatch:
    """One backfill batch as the loader takes it: articles and mentions, no alerts."""
    records, mentions = stages.to_records(judged, stages.with_outlets(sources), started_at)
    aliases, page_failures = stages.identity_records(judged)
    run = RunRecord(
        run_id=stages.new_run_id(started_at),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        flow_run_id=flow_run.get_id(),
        new_articles=len(records),
        on_topic_articles=sum(r.on_topic for r in records),
        mentions=len(mentions),
        catalogue_version=catalogue_version,
        settings_json=settings_json(settings),
        package_versions=package_versions(),
    )
    return IngestBatch(
        run=run,
        articles=tuple(records),
        mentions=tuple(mentions),
        sources=tuple(sources),
        entities=catalogue_entities,  # type: ignore[arg-type]
        aliases=tuple(aliases),
        page_failures=tuple(page_failures),
    )


def parse_day(value: str, *, end_of_day: bool = False) -> datetime:
    """``2026-07-01`` (start or end of that UTC day) or a full ISO 8601 timestamp."""
    parsed = parse_iso(value)
    if parsed is None:
        raise ConfigError(f"'{value}' is not a date (YYYY-MM-DD or ISO 8601)")
    if end_of_day and len(value.strip()) == 10:
        return parsed.replace(hour=23, minute=59, second=59, microsecond=999999)
    return parsed


# ----------------------------------------------------------------- tasks


@task(name="read-sitemaps", cache_policy=NO_CACHE, retries=1)
def read_sitemaps(
    sources: Sequence[Source], since: datetime, settings: Settings
) -> list[Discovery]:
    return discover(sources, since, settings)


@task(name="select-backfill-pages", cache_policy=NO_CACHE)
def select_pages(
    discoveries: Sequence[Discovery],
    since: datetime,
    until: datetime | None,
    settings: Settings,
) -> Selection:
    return select(discoveries, since, until, settings)


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
        extract_chunk.submit(
            pages[start : start + CHUNK_PAGES], entries[start : start + CHUNK_PAGES], settings
        )
        for start in range(0, len(pages), CHUNK_PAGES)
    ]
    return [article for future in futures for article in future.result()]


# ----------------------------------------------------------------- the flow


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
) -> dict[str, object]:
    """Load the history the sources' sitemaps list between ``since`` and ``until``.

    ``chunked_extraction`` sends extraction to the flow's task runner in chunks (set by
    ``run_backfill`` with a DaskTaskRunner). ``progress`` draws a rich progress bar on
    stderr. Safe to re-run and to kill: each batch is loaded before the next is fetched.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    since_at, until_at = parse_day(since), parse_day(until, end_of_day=True) if until else None
    settings = Settings.from_env(
        db_path=Path(db) if db else None,
        allow_private=tuple(allow_private) if allow_private else None,
    )
    catalogue = load_catalogue()
    chosen = choose_sources(load_sources(Path(sources)), source_ids)

    discoveries = read_sitemaps(chosen, since_at, settings)
    selection = select_pages(discoveries, since_at, until_at, settings)
    sitemap_errors = tuple(e for d in discoveries for e in d.errors)
    for error in sitemap_errors:
        logger.warning("sitemap problem: %s", error)

    added = on_topic = mentions = failed = loaded_batches = left = 0
    with progress_bar(len(selection.entries), enabled=progress) as advance:
        for number, entries in enumerate(batches(selection.entries, batch_size), 1):
            batch_started = datetime.now(UTC)
            pages = tasks.fetch_pages(entries, settings)
            if chunked_extraction:
                articles = extract_on_runner(pages, entries, settings)
            else:
                articles = tasks.extract_articles(pages, entries, settings)
            judged = tasks.match_and_group(entries, pages, articles, catalogue, settings)
            batch = batch_record(
                judged, chosen, catalogue.entities, catalogue.version, batch_started, settings
            )
            tasks.stage(batch, settings)
            report = load_batch(settings)
            failed += sum(p.status != "ok" for p in pages)
            added += report.articles_added
            mentions += report.mentions_added
            on_topic += batch.run.on_topic_articles
            loaded_batches += report.batches_loaded
            left = report.batches_left
            logger.info("batch %d: %s", number, report.message)
            advance(len(entries))
    if loaded_batches:
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
        pages_failed=failed,
        batches=-(-len(selection.entries) // max(1, batch_size)),
        articles_added=added,
        on_topic_articles=on_topic,
        mentions_added=mentions,
        batches_left=left,
        extraction="dask" if chunked_extraction else "in-process",
        seconds=time.perf_counter() - started,
    )
    create_markdown_artifact(summary.to_markdown(), key="backfill-summary")
    logger.info(summary.to_markdown())
    return asdict(summary)


def choose_sources(sources: Sequence[Source], source_ids: Sequence[str] | None) -> list[Source]:
    """The enabled sources with a sitemap, or exactly those asked for by id."""
    if source_ids:
        by_id = {s.id: s for s in sources}
        unknown = [i for i in source_ids if i not in by_id]
        if unknown:
            raise ConfigError(f"unknown source id(s): {', '.join(unknown)}")
        without = [i for i in source_ids if not by_id[i].sitemap]
        if without:
            raise ConfigError(f"source(s) without a sitemap: {', '.join(without)}")
        return [by_id[i] for i in dict.fromkeys(source_ids)]
    return [s for s in sources if s.enabled and s.sitemap]


@contextmanager
def progress_bar(total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A rich bar (pages done / total, ETA) on stderr; yields ``advance(n)``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        job = bar.add_task("pages", total=total)
        yield lambda n: bar.advance(job, n)


def run_backfill(
    *,
    dask: bool = False,
    dask_workers: int = 2,
    dask_address: str | None = None,
    **parameters: object,
) -> dict[str, object]:
    """Run the flow, with extraction on a Dask cluster when ``dask`` or ``dask_address``.

    ``dask_address`` (``tcp://host:8786``) uses an existing scheduler; otherwise a
    LocalCluster of ``dask_workers`` single-threaded worker processes lives for the run.
    """
    if not (dask or dask_address):
        return backfill(**parameters)  # type: ignore[arg-type]
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
    return backfill.with_options(task_runner=runner)(  # type: ignore[arg-type]
        chunked_extraction=True, **parameters
    )


__all__ = [
    "CHUNK_PAGES",
    "BackfillSummary",
    "Discovery",
    "Selection",
    "backfill",
    "batch_record",
    "batches",
    "choose_sources",
    "discover",
    "extract_on_runner",
    "parse_day",
    "run_backfill",
    "select",
]
