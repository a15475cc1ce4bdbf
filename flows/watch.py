"""Continuous mode, one scheduler: the ``ingest`` flow on a Prefect interval schedule.

Every run polls only the feeds whose adaptive cadence says due (``respect_cadence=True``, at
most ``max_feeds`` of them, cadence clamped to the poll-interval bounds). ``WATCH_INTERVAL``
and ``WATCH_CADENCE`` are the one definition of those parameters: prefect.yaml's ``watch``
deployment documents them (``tests/test_watch.py`` compares), and ``newswatch watch`` serves
them as ``ingest/watch-serve`` with ``serve_watch`` (a Prefect ``Runner`` in this process,
one flow-run subprocess at a time). Prefect imports stay inside the functions, so the CLI can
read the defaults without paying for Prefect.

``serve_watch`` reports each finished run (from the API: its state and its
``ingest-summary`` artifact). A first ``stop`` request stops scheduling and waits for the
run in flight to finish; a second cancels it (the load is one transaction per staged batch:
nothing is half-loaded, and the next run loads what was left staged).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.runner import Runner

WATCH_DEPLOYMENT = "watch"  # prefect.yaml's (worker-run, registered paused)
SERVE_NAME = "watch-serve"  # what `newswatch watch` registers: ingest/watch-serve
WATCH_INTERVAL = 300.0  # seconds between scheduled runs
WATCH_CADENCE: dict[str, object] = {
    "respect_cadence": True,
    "max_feeds": 10,
    "min_poll_interval": 300,
    "max_poll_interval": 21600,
}
SUMMARY_KEY = "ingest-summary"
# the message of a run the deployment's concurrency limit cancelled (CANCEL_NEW) before it
# ran; not "... reached after lease expiry.", which cancels a run that did start
CONCURRENCY_REFUSAL = "Deployment concurrency limit reached."
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
IN_FLIGHT = {"PENDING", "RUNNING", "CANCELLING"}
ROW = re.compile(r"^\|" + r"\s*([\d.]+)\s*\|" * 10 + r"\s*$", re.MULTILINE)


def watch_parameters(
    base: dict[str, object],
    *,
    batch_size: int = int(WATCH_CADENCE["max_feeds"]),  # type: ignore[call-overload]
    min_interval: float = float(WATCH_CADENCE["min_poll_interval"]),  # type: ignore[arg-type]
    max_interval: float = float(WATCH_CADENCE["max_poll_interval"]),  # type: ignore[arg-type]
) -> dict[str, object]:
    """The ingest parameters of a watch run: ``base`` (sources, db, alerts...) plus the
    cadence parameters, with these bounds (seconds; whole seconds stay ints, as in yaml)."""

    def number(value: float) -> float | int:
        return int(value) if float(value).is_integer() else value

    return {
        **base,
        "respect_cadence": True,
        "max_feeds": batch_size,
        "min_poll_interval": number(min_interval),
        "max_poll_interval": number(max_interval),
    }


@dataclass(frozen=True)
class FinishedRun:
    """One scheduled run as the API reports it once it is over."""

    name: str
    state: str  # COMPLETED | FAILED | CRASHED | CANCELLED
    message: str | None
    counts: dict[str, float] | None  # from the ingest-summary artifact, when it has one
    load_message: str | None
    next_due: str | None = None  # "now" or the ISO instant the next feed is due

    def line(self) -> str:
        if self.counts is None:
            return f"run {self.name}: {self.state.lower()}: {self.message or 'no summary'}"
        c = {k: int(v) for k, v in self.counts.items() if k != "seconds"}
        text = (
            f"run {self.name}: {c['feeds_polled']} feeds polled ({c['failed']} failed, "
            f"{c['unchanged']} unchanged), {c['new_articles']} new articles, "
            f"{c['alerts_sent']} alerts sent [{self.load_message}]"
        )
        text = text if self.state == "COMPLETED" else f"{text} ({self.state.lower()})"
        return f"{text}; {next_poll_phrase(self.next_due)}" if self.next_due else text


def next_poll_phrase(next_due: str, now: datetime | None = None) -> str:
    """``next poll at 14:05`` in the watch's local time (with the day when not today), or
    ``a feed is due now``; the watch's next run after that instant polls it."""
    try:
        due = datetime.fromisoformat(next_due)
    except ValueError:
        return "a feed is due now"
    local, today = due.astimezone(), (now or datetime.now(UTC)).astimezone()
    if local <= today:
        return "a feed is due now"
    when = local.strftime("%H:%M") if local.date() == today.date() else local.strftime("%a %H:%M")
    return f"next poll at {when}"


COLUMNS = (
    "feeds_polled",
    "failed",
    "unchanged",
    "backing_off",
    "new_articles",
    "stories",
    "on_topic",
    "mentions",
    "alerts_sent",
    "seconds",
)


def parse_summary(
    markdown: str,
) -> tuple[dict[str, float] | None, str | None, str | None]:
    """The counts row, the load message and the next-feed-due line of an
    ``ingest-summary`` artifact."""
    match = ROW.search(markdown)
    load = re.search(r"^Load: (.*)$", markdown, re.MULTILINE)
    due = re.search(r"^Next feed due: (.*)$", markdown, re.MULTILINE)
    counts = dict(zip(COLUMNS, map(float, match.groups()), strict=True)) if match else None
    return counts, load.group(1) if load else None, due.group(1) if due else None


@dataclass
class StopRequest:
    """Set by a signal handler: 1 = finish the run in flight then stop, 2 = stop now."""

    level: int = 0

    def bump(self) -> None:
        self.level += 1


async def _finished_runs(
    client: PrefectClient, deployment_id: Any, since: datetime, seen: set[str]
) -> tuple[list[FinishedRun], bool]:
    """Runs of the deployment created after ``since`` that ended and were not reported
    yet, oldest first; and whether one is still in flight."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        DeploymentFilter,
        DeploymentFilterId,
    )

    runs = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        limit=200,
    )
    # a run the runner has claimed (PENDING) has no start time yet, but it is in flight and
    # will start: count it as busy, or a stop in that window would cancel it mid-poll
    claimed = [
        r
        for r in runs
        if r.start_time is None
        and r.created is not None
        and r.created >= since
        and r.state_type is not None
        and r.state_type.value in IN_FLIGHT
    ]
    # runs this watch started (a run that never started, e.g. cancelled by the concurrency
    # limit, is not a run; one left RUNNING by a killed earlier watch is not ours)
    runs = [r for r in runs if r.start_time is not None and r.start_time >= since]
    busy = bool(claimed) or any(
        r.state_type is not None and r.state_type.value in IN_FLIGHT for r in runs
    )
    done = []
    for run in sorted(runs, key=lambda r: r.start_time or since):
        state = run.state_type.value if run.state_type else ""
        if state not in TERMINAL or str(run.id) in seen:
            continue
        seen.add(str(run.id))
        message = run.state.message if run.state else None
        if state == "CANCELLED" and (message or "").strip() == CONCURRENCY_REFUSAL:
            continue  # a slot that came while a run was in flight: skipped, not a run
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[SUMMARY_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]),
            )
        )
        markdown = str(artifacts[0].data) if artifacts else ""
        counts, load, next_due = parse_summary(markdown)
        done.append(FinishedRun(run.name, state, message, counts, load, next_due))
    return done, busy


async def _drop_scheduled_runs(client: PrefectClient, deployment_id: Any) -> None:
    """Delete the deployment's runs still waiting to start: they carry the parameters of the
    previous registration; the scheduler creates new ones from the current one."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    waiting = await client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
        ),
        limit=200,
    )
    for run in waiting:
        await client.delete_flow_run(run.id)


def _stop_claiming(runner: Runner) -> None:
    """Keep the runner from claiming another scheduled run (a run in flight goes on)."""
    runner.stopping = True
    poller = getattr(runner, "_scheduled_run_poller", None)
    if poller is not None:
        poller.stopping = True


async def serve_watch(
    parameters: dict[str, object],
    interval: float,
    stop: StopRequest,
    on_run: Callable[[FinishedRun], None],
    *,
    max_runs: int | None = None,
    poll: float = 2.0,
    signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
) -> int:
    """Serve ``ingest`` as ``ingest/watch-serve`` every ``interval`` s until ``stop`` (or
    ``max_runs`` finished runs); returns the number of runs reported."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.runner import Runner

    from newswatch.flows.ingest import ingest

    runner = Runner(name=SERVE_NAME, limit=1, query_seconds=max(min(interval / 2, 10.0), 1.0))
    since = datetime.now(UTC) - timedelta(seconds=1)
    deployment_id = await runner.aadd_flow(
        ingest,
        name=SERVE_NAME,
        interval=timedelta(seconds=interval),
        parameters=parameters,
        paused=False,
        description="Poll the feeds whose cadence says due (served by `newswatch watch`).",
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
    )
    async with get_client() as client:
        await _drop_scheduled_runs(client, deployment_id)  # an earlier watch's (old parameters)
        # the first run starts now, as a watch is expected to (the schedule's first slot is
        # a full interval away); the concurrency limit keeps it from overlapping a slot
        await client.create_flow_run_from_deployment(deployment_id)
    seen: set[str] = set()
    reported = 0

    async def monitor() -> None:
        nonlocal reported
        loop = asyncio.get_running_loop()
        for sig in signals:  # after runner.start() installed its own SIGTERM handler
            loop.add_signal_handler(sig, stop.bump)
        try:
            async with get_client() as client:
                while True:
                    done, busy = await _finished_runs(client, deployment_id, since, seen)
                    for run in done:
                        reported += 1
                        on_run(run)
                    if max_runs is not None and reported >= max_runs and not stop.level:
                        stop.level = 1
                    if stop.level >= 2 or (stop.level == 1 and not busy):
                        break
                    last_one = max_runs is not None and busy and reported + 1 >= max_runs
                    if stop.level == 1 or last_one:  # no new run; the one in flight finishes
                        _stop_claiming(runner)
                    await asyncio.sleep(poll)
        finally:
            if runner.started:
                await runner.astop()  # cancels a run still in flight (second signal)

    task = asyncio.create_task(monitor())
    try:
        await runner.start()
    finally:
        if not task.done():
            task.cancel()
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    if task.done() and not task.cancelled() and (error := task.exception()) is not None:
        raise error
    return reported


__all__ = [
    "SERVE_NAME",
    "WATCH_CADENCE",
    "WATCH_DEPLOYMENT",
    "WATCH_INTERVAL",
    "FinishedRun",
    "StopRequest",
    "next_poll_phrase",
    "parse_summary",
    "serve_watch",
    "watch_parameters",
]
