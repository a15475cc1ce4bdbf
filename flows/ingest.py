"""The ``ingest`` flow: feeds -> new entries -> pages -> articles -> matches -> DuckDB.

Coarse tasks (poll, select, fetch, extract, match, raise alerts, stage, load, send
alerts). Fetch and extract run chunk by chunk (``STREAM_CHUNK`` entries): a chunk's page
bodies are dropped once it is extracted, so the bytes held do not grow with the batch,
and the extraction workers are started once for all chunks (``pool.kept_open``). Flow
parameters are paths and names only (flow-run parameters must stay small); page bodies
never leave the process. Lists passed to tasks are ``quote``d: Prefect does not walk them
(``visit_collection`` over every record, for dependency tracking, cost seconds per 1,000
pages).

The run's Prefect state tells the truth about its purpose: it ends **Failed**, with the
reason as the state message, when every polled source failed (at least one was polled) or
when the batch could not be loaded (left staged: the warehouse was locked, or the load
raised). Some failed feeds but not all is **Completed**, the failures listed in the
``ingest-summary`` artifact, which every run creates, failed or not. A failed run's state
data is an :class:`IngestFailed` carrying the same summary, so an in-process caller
(``newswatch run``, ``newswatch watch``) still gets it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed
from prefect.utilities.annotations import quote

from newswatch.core.errors import NewswatchError
from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.core.settings import DEFAULT_ALERTS, DEFAULT_SOURCES, Settings
from newswatch.core.summaries import IngestSummary
from newswatch.extractors import pool
from newswatch.extractors.alerts import load_alert_config
from newswatch.extractors.batch import (
    assemble,
    chunks,
    failed_feeds,
    ingest_batch,
    run_record,
    without_bodies,
)
from newswatch.extractors.entities import load_catalogue
from newswatch.extractors.sources import load_sources
from newswatch.flows import stages, tasks
from newswatch.flows.alerting import SendReport
from newswatch.flows.writer import one_writer
from newswatch.warehouse.load import LoadReport
from newswatch.warehouse.staging import staged_batches

T = TypeVar("T")
STREAM_CHUNK = 200  # entries fetched and extracted at a time


def quoted(value: T) -> T:
    """``value`` for a task parameter that Prefect passes on without walking it (the task
    gets ``value`` itself; typed as the value so the task's signature still checks)."""
    return cast(T, quote(value))


def fetch_and_extract(
    entries: Sequence[FeedEntry], settings: Settings
) -> tuple[list[PageFetch], list[ExtractedArticle]]:
    """The fetch and extract tasks chunk by chunk; the pages come back without bodies."""
    pages: list[PageFetch] = []
    articles: list[ExtractedArticle] = []
    with pool.kept_open():
        for chunk in chunks(entries, STREAM_CHUNK):
            fetched = tasks.fetch_pages(quoted(chunk), settings)
            articles += tasks.extract_articles(quoted(fetched), quoted(chunk), settings)
            pages += without_bodies(fetched)
            del fetched
    return pages, articles


class IngestFailed(NewswatchError):
    """The run's purpose failed (every polled source failed, or the batch was not loaded).

    The data of the run's Failed state: raised by a plain in-process call of the flow,
    with the run's summary in ``summary``; ``load_error`` is the exception the load raised,
    if it raised (in-process only, not pickled).
    """

    def __init__(
        self,
        reason: str,
        summary: IngestSummary,
        load_error: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.summary = summary
        self.load_error = load_error

    def __reduce__(self) -> tuple[type[IngestFailed], tuple[str, IngestSummary]]:
        return (type(self), (self.reason, self.summary))


def load_or_report(settings: Settings) -> tuple[LoadReport, BaseException | None]:
    """Run the load task; a load that raised becomes a report saying so (the batch stays
    staged: the load is one transaction per batch), plus the exception itself."""
    try:
        return tasks.load(settings), None
    except Exception as exc:  # any cause: the run must still end with its summary
        left = len(staged_batches(settings.staging_dir))
        message = (
            f"load failed ({type(exc).__name__}: {exc}); {left} batch(es) left staged, "
            "the next run loads them"
        )
        return LoadReport(0, left, 0, 0, locked=False, message=message), exc


@flow(name="ingest", log_prints=False)
@one_writer("ingest flow run")  # one writer per data dir; re-entrant
def ingest(
    sources: str = str(DEFAULT_SOURCES),
    db: str | None = None,
    allow_private: list[str] | None = None,
    alerts: str = str(DEFAULT_ALERTS),
    alerts_to: list[str] | None = None,
    respect_cadence: bool = False,
    max_feeds: int | None = None,
    min_poll_interval: float | None = None,
    max_poll_interval: float | None = None,
    force: bool = False,
    catalogue: str | None = None,
) -> IngestSummary:
    """Poll every due source once, load what is new, raise and send alerts.

    Safe to re-run: loads are idempotent and an alert exists once per (rule, story, channel).
    ``alerts_to`` adds channels (apprise URLs, ``file://PATH``) to every rule for this run.
    ``respect_cadence`` polls only feeds whose adaptive cadence says due (the watch
    deployment); by default every feed not backing off after failures is polled.
    ``max_feeds`` caps the feeds polled (most overdue first); the poll-interval bounds
    (seconds) override settings for the cadence stored after this run. ``force`` polls every
    enabled source, ignoring cadence and failure backoff (``newswatch run --force``).
    ``catalogue`` is the entity catalogue's path (default: the bundled seeds/entities.toml).

    Returns the :class:`IngestSummary`; when the run failed its purpose (see the module
    docstring) returns a Failed state instead, whose data is an :class:`IngestFailed`
    carrying the summary: an in-process call then raises that IngestFailed.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    settings = Settings.from_env(
        db_path=Path(db) if db else None,
        allow_private=tuple(allow_private) if allow_private else None,
        min_poll_interval=min_poll_interval,
        max_poll_interval=max_poll_interval,
    )
    entity_catalogue = load_catalogue(Path(catalogue) if catalogue else None)
    alert_config = load_alert_config(Path(alerts)).with_extra_channels(alerts_to or [])
    source_list = [s for s in load_sources(Path(sources)) if s.enabled]

    outcome = tasks.poll_feeds(quoted(source_list), settings, respect_cadence, max_feeds, force)
    entries = tasks.select_new_entries(quoted(outcome.polls), settings)
    pages, articles = fetch_and_extract(entries, settings)
    judged = tasks.match_and_group(
        quoted(entries), quoted(pages), quoted(articles), entity_catalogue, settings
    )

    assembled = assemble(judged, source_list, started_at)
    del judged, pages, articles
    raised = tasks.raise_alerts(
        alert_config,
        quoted(assembled.articles),
        quoted(assembled.mentions),
        entity_catalogue,
        settings,
    )
    raised += stages.feed_health_alerts(
        alert_config, outcome.states, source_list, assembled.articles, settings
    )
    run = run_record(
        assembled, started_at, entity_catalogue, settings, flow_run.get_id(), outcome.polls
    )
    tasks.stage(
        quoted(
            ingest_batch(
                assembled, run, entity_catalogue, source_list, outcome.polls, outcome.states, raised
            )
        ),
        settings,
    )
    report, load_error = load_or_report(settings)
    if load_error is None:
        sent = tasks.send_alerts(alert_config, settings)
    else:  # the warehouse just failed a write: leave the outbox for the next run
        sent = SendReport(errors=("no alerts sent: the load failed; the next run sends them",))
    failed = failed_feeds(outcome.polls)
    for source_id, error in failed:
        logger.warning("feed %s failed: %s", source_id, error)

    summary = IngestSummary.from_run(
        run,
        report,
        sent,
        feeds_skipped=len(outcome.skipped),
        new_entries=len(entries),
        stories=assembled.stories,
        alerts_raised=len(raised),
        failed_feeds=failed,
        seconds=time.perf_counter() - started,
        next_poll_at=outcome.next_poll_at,
    )
    create_markdown_artifact(summary.to_markdown(), key="ingest-summary")
    # one line: the table is the artifact, and the CLI prints its own summary
    logger.info(
        "%d feeds polled (%d failed), %d new articles, %d alerts sent; %s",
        summary.feeds_polled,
        summary.feeds_failed,
        summary.new_articles,
        summary.alerts_sent,
        summary.load_message,
    )
    reason = summary.failure_reason()
    if reason is None:
        return summary
    logger.error("ingest run failed: %s", reason)
    failure = IngestFailed(reason, summary, load_error)
    # an in-process caller gets ``failure`` raised, never this state. The ignore: Prefect ends
    # a flow that returns a State in that state, which the declared return cannot say
    return Failed(message=reason, data=failure)  # type: ignore[return-value]


if __name__ == "__main__":
    ingest.serve(name="daily-ingest-serve", cron="0 6 * * *")
