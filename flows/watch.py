"""Continuous mode: a loop around the ``ingest`` flow that polls each feed at its own pace.

Each tick reads the feed state; when a feed's cadence (``newswatch.extractors.cadence``) says
due, it runs the ingest flow with ``respect_cadence=True`` and at most ``batch_size`` feeds —
the same fetch -> extract -> match -> load -> alert path as the daily run. Between ticks it
sleeps until the next feed is due (at most ``max_sleep``).

The flow runs in a worker thread so that the main thread keeps the SIGINT/SIGTERM handlers
(Prefect's engine turns SIGTERM into an abort when it runs in the main thread): a signal
stops the loop after the current batch has been staged and loaded. A second signal kills
the process at once; the load is one transaction, so even then nothing is half-loaded.
The ``watch`` deployment in prefect.yaml is the scheduler-driven alternative.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from newswatch.core.errors import WarehouseLocked
from newswatch.core.settings import DEFAULT_ALERTS, DEFAULT_SOURCES, Settings
from newswatch.core.summaries import IngestSummary
from newswatch.extractors.feed_state import due_sources, next_due_at
from newswatch.extractors.sources import load_sources
from newswatch.warehouse import queries

log = logging.getLogger("newswatch.watch")
FAILED_TICK_PAUSE = 30.0  # seconds to wait after an ingest run raised
LOCKED_PAUSE = 5.0  # seconds to wait when feed state is locked by another writer


@dataclass(frozen=True)
class WatchOptions:
    """What ``newswatch watch`` was asked for (intervals in seconds)."""

    sources: str = str(DEFAULT_SOURCES)
    db: str | None = None
    allow_private: tuple[str, ...] = ()
    alerts: str = str(DEFAULT_ALERTS)
    alerts_to: tuple[str, ...] = ()
    min_interval: float = 300.0
    max_interval: float = 6 * 3600.0
    batch_size: int = 10  # feeds per ingest run
    max_sleep: float = 60.0  # the loop re-reads feed state at least this often
    max_runs: int | None = None  # stop after this many ingest runs (tests, benchmarks)


class StopFlag:
    """A stop request that a signal handler may set: no locks (an Event's lock could be
    held by the very thread the handler interrupts), waits sleep in short slices."""

    SLICE = 0.25

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + max(seconds, 0.0)
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(self.SLICE, left))
        return self._set


@dataclass
class WatchReport:
    runs: int = 0
    feeds_polled: int = 0
    new_articles: int = 0
    failed_runs: int = 0
    summaries: list[IngestSummary] = field(default_factory=list)


def watch(
    options: WatchOptions,
    stop: StopFlag,
    on_run: Callable[[IngestSummary], None] | None = None,
) -> WatchReport:
    """Run ticks until ``stop`` is set (or ``max_runs`` ingest runs); returns the tallies."""
    settings = Settings.from_env(
        db_path=Path(options.db) if options.db else None,
        min_poll_interval=options.min_interval,
        max_poll_interval=options.max_interval,
    )
    report = WatchReport()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="watch-ingest") as worker:
        while not stop.is_set():
            if options.max_runs is not None and report.runs >= options.max_runs:
                break
            sources = [s for s in load_sources(Path(options.sources)) if s.enabled]
            try:
                states = queries.feed_states(settings.db_path, lock_timeout=LOCKED_PAUSE)
            except WarehouseLocked as exc:
                log.info("feed state locked (%s); waiting", exc)
                stop.wait(LOCKED_PAUSE)
                continue
            now = datetime.now(UTC)
            if due_sources(sources, states, now, respect_cadence=True):
                summary = _run_batch(worker, options, report)
                if summary is not None and on_run is not None:
                    on_run(summary)
                if summary is None:
                    stop.wait(min(FAILED_TICK_PAUSE, options.max_sleep))
                elif summary.batches_left or not summary.feeds_polled:
                    # not loaded (a writer holds the lock) or nothing polled: the stored
                    # state did not move, so do not spin; the next run loads what is staged
                    stop.wait(min(options.min_interval, options.max_sleep))
                continue
            stop.wait(seconds_until(next_due_at(sources, states), now, options.max_sleep))
    return report


def seconds_until(when: datetime | None, now: datetime, max_sleep: float) -> float:
    """How long to sleep before the next tick: until ``when``, within [0.05, max_sleep]."""
    if when is None:
        return 0.05
    return min(max((when - now).total_seconds(), 0.05), max_sleep)


def _run_batch(
    worker: ThreadPoolExecutor, options: WatchOptions, report: WatchReport
) -> IngestSummary | None:
    from newswatch.flows.ingest import (  # imports Prefect only when a batch runs
        IngestFailed,
        ingest,
    )

    future: Future[IngestSummary] = worker.submit(
        ingest,
        sources=options.sources,
        db=options.db,
        allow_private=list(options.allow_private),
        alerts=options.alerts,
        alerts_to=list(options.alerts_to),
        respect_cadence=True,
        max_feeds=options.batch_size,
        min_poll_interval=options.min_interval,
        max_poll_interval=options.max_interval,
    )
    report.runs += 1
    try:
        summary = _wait(future)
    except IngestFailed as failed:  # Failed in Prefect (no source answered, or not loaded)
        summary = failed.summary
    except Exception as exc:  # one bad run must not end the watch
        report.failed_runs += 1
        log.error("ingest run failed: %s", exc)
        return None
    report.feeds_polled += summary.feeds_polled
    report.new_articles += summary.new_articles
    report.summaries.append(summary)
    return summary


def _wait(future: Future[IngestSummary]) -> IngestSummary:
    """The result, waiting in short slices so the main thread's signal handlers run."""
    while True:
        try:
            return future.result(timeout=0.5)
        except TimeoutError:
            continue


@contextmanager
def stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (finish the batch, then exit); a second one kills."""

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        log.warning("%s: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["StopFlag", "WatchOptions", "WatchReport", "seconds_until", "stop_on_signals", "watch"]
