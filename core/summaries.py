"""What a run did: the frozen summaries the ``ingest`` and ``backfill`` flows return.

The flows build them, the CLI prints them (``newswatch run``, ``watch``, ``backfill``) and
each run publishes one as a markdown artifact. They live here, with no Prefect, so that a
command can name them without importing Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from newswatch.core.records import RunRecord

MAX_REASON_FEEDS = 3  # failed feeds named in a Failed state's message (all are in the artifact)


class LoadCounts(Protocol):
    """What a summary takes from a load (``warehouse/load.LoadReport``)."""

    @property
    def batches_loaded(self) -> int: ...
    @property
    def batches_left(self) -> int: ...
    @property
    def articles_added(self) -> int: ...
    @property
    def mentions_added(self) -> int: ...
    @property
    def message(self) -> str: ...


class SendCounts(Protocol):
    """What a summary takes from sending alerts (``flows/alerting.SendReport``)."""

    @property
    def sent(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def errors(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class IngestSummary:
    run_id: str
    feeds_polled: int
    feeds_failed: int
    feeds_unchanged: int
    feeds_skipped: int
    new_entries: int
    new_articles: int
    on_topic_articles: int
    mentions: int
    stories: int
    batches_loaded: int
    batches_left: int
    load_message: str
    alerts_raised: int
    alerts_sent: int
    alerts_failed: int
    alert_errors: tuple[str, ...]
    failed_feeds: tuple[tuple[str, str], ...]  # (source id, error)
    seconds: float
    next_poll_at: datetime | None = None  # when the next feed is due; None: one is due now

    @classmethod
    def from_run(
        cls,
        run: RunRecord,
        load: LoadCounts,
        sent: SendCounts,
        *,
        feeds_skipped: int,
        new_entries: int,
        stories: int,
        alerts_raised: int,
        failed_feeds: Sequence[tuple[str, str]],
        seconds: float,
        next_poll_at: datetime | None = None,
    ) -> IngestSummary:
        """A run's summary: feed and topic counts from its run record, article and mention
        counts from what the load added (a repeat dropped at load is not new), delivery
        from the send."""
        return cls(
            run_id=run.run_id,
            feeds_polled=run.feeds_polled,
            feeds_failed=run.feeds_failed,
            feeds_unchanged=run.feeds_unchanged,
            feeds_skipped=feeds_skipped,
            new_entries=new_entries,
            new_articles=load.articles_added,
            on_topic_articles=run.on_topic_articles,
            mentions=load.mentions_added,
            stories=stories,
            batches_loaded=load.batches_loaded,
            batches_left=load.batches_left,
            load_message=load.message,
            alerts_raised=alerts_raised,
            alerts_sent=sent.sent,
            alerts_failed=sent.failed,
            alert_errors=tuple(sent.errors),
            failed_feeds=tuple(failed_feeds),
            seconds=seconds,
            next_poll_at=next_poll_at,
        )

    @property
    def every_feed_failed(self) -> bool:
        """At least one feed was polled and none answered."""
        return bool(self.feeds_polled) and self.feeds_failed == self.feeds_polled

    def failure_reason(self) -> str | None:
        """Why the run failed its purpose, or None when it did not (partial failures do
        not): every polled source failed, or the batch was left staged."""
        reasons = []
        if self.every_feed_failed:
            named = "; ".join(f"{sid}: {err}" for sid, err in self.failed_feeds[:MAX_REASON_FEEDS])
            more = len(self.failed_feeds) - MAX_REASON_FEEDS
            named += f"; and {more} more" if more > 0 else ""
            reasons.append(
                f"every polled source failed ({self.feeds_failed} of {self.feeds_polled}): {named}"
            )
        if self.batches_left:
            reasons.append(f"batch not loaded: {self.load_message}")
        return "; ".join(reasons) or None

    def to_markdown(self) -> str:
        lines = [
            f"# newswatch ingest {self.run_id}",
            "",
            "| feeds polled | failed | unchanged | backing off | new articles | stories "
            "| on-topic | mentions | alerts sent | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {self.feeds_polled} | {self.feeds_failed} | {self.feeds_unchanged} "
            f"| {self.feeds_skipped} | {self.new_articles} | {self.stories} "
            f"| {self.on_topic_articles} | {self.mentions} | {self.alerts_sent} "
            f"| {self.seconds:.1f} |",
            "",
            f"Load: {self.load_message}",
            "",
            f"Next feed due: {self.next_poll_at.isoformat() if self.next_poll_at else 'now'}",
        ]
        if self.failed_feeds:
            lines += ["", "## Failed feeds", ""]
            lines += [f"- `{source}`: {error}" for source, error in self.failed_feeds]
        if self.alert_errors:
            lines += ["", "## Alert delivery problems", ""]
            lines += [f"- {error}" for error in self.alert_errors]
        return "\n".join(lines)


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
