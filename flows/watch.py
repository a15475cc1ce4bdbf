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
    # runs this watch started (a run that never started, e.g. cancelled by the concurrency
    # limit, is not a run; one left RUNNING by a killed earlier watch is not ours)
    runs = [r for r in runs if r.start_time is not None and r.start_time >= since]
    busy = any(r.state_type is not None and r.state_type.value in IN_FLIGHT for r in runs)
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


SERVE_DESCRIPTION = "Poll the feeds whose cadence says due (served by `newswatch watch`)."


def ingest_deployment(parameters: dict[str, object], interval: float) -> dict[str, object]:
    """``ingest/watch-serve`` as Prefect builds it from the flow object (module entrypoint,
    interval schedule, concurrency limit 1 that cancels a new slot while a run is in flight),
    as JSON: the model's fields and what Prefect keeps in private attributes (the parameter
    schema). Runs in a child process of ``serve_watch`` (``python -m newswatch.flows.watch``):
    importing the flow imports the whole ingest stack (trafilatura, lxml, numpy, DuckDB...,
    ~140 MiB), which the watch process would otherwise hold for as long as it sleeps
    between runs; each run imports it in its own subprocess anyway."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import RunnerDeployment
    from prefect.types.entrypoint import EntrypointType

    from newswatch.flows.ingest import ingest

    deployment = RunnerDeployment.from_flow(
        ingest,
        name=SERVE_NAME,
        interval=timedelta(seconds=interval),
        parameters=parameters,
        paused=False,
        description=SERVE_DESCRIPTION,
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        entrypoint_type=EntrypointType.MODULE_PATH,  # newswatch.flows.ingest.ingest
    )
    return {
        "fields": deployment.model_dump(mode="json", exclude={"storage"}),
        "parameter_schema": deployment._parameter_openapi_schema.model_dump(
            mode="json", exclude_unset=True
        ),
        "version_from_flow": deployment._version_from_flow,
    }


def served_deployment(spec: dict[str, Any]) -> Any:
    """The ``RunnerDeployment`` that ``ingest_deployment`` described, rebuilt here without
    the flow object."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.deployments.runner import RunnerDeployment
    from prefect.types.entrypoint import EntrypointType
    from prefect.utilities.callables import ParameterSchema

    fields = dict(spec["fields"])
    fields["schedules"] = [DeploymentScheduleCreate.model_validate(s) for s in fields["schedules"]]
    deployment = RunnerDeployment.model_validate(fields)
    # what RunnerDeployment.from_flow sets from the flow (prefect is pinned to 3.6.29)
    deployment._parameter_openapi_schema = ParameterSchema.model_validate(spec["parameter_schema"])
    deployment._version_from_flow = bool(spec["version_from_flow"])
    deployment._entrypoint_type = EntrypointType.MODULE_PATH
    # as Runner.aadd_flow does: clear a work pool an earlier registration may have had, so
    # runs execute here rather than wait for a worker
    deployment.work_pool_name = None
    deployment.work_queue_name = None
    return deployment


def _ingest_flow() -> Any:
    from newswatch.flows.ingest import ingest

    return ingest


class IngestByReference:
    """Stands in for the ``ingest`` flow in the watch process (``Runner.aadd_flow``): its
    deployment is the one built in a child (``ingest_deployment``), and it pickles as a
    reference to the real flow, so each run's subprocess (Prefect's spawn child, as for any
    served flow) imports the flow when it unpickles it. Anything else asked of it (the
    runner's cancellation or crash hooks) imports the flow here, then answers."""

    _storage = None  # not loaded from storage: the runner starts its runs as for a flow

    def __init__(self, deployment: Any) -> None:
        self._deployment = deployment

    async def ato_deployment(self, **_options: object) -> Any:
        return self._deployment

    def __reduce__(self) -> tuple[Callable[[], Any], tuple[()]]:
        return _ingest_flow, ()

    def __getattr__(self, name: str) -> Any:
        return getattr(_ingest_flow(), name)


async def _deployment_in_child(parameters: dict[str, object], interval: float) -> dict[str, Any]:
    import asyncio
    import json
    import sys

    from newswatch.core.errors import NewswatchError

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "newswatch.flows.watch",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    request = json.dumps({"parameters": parameters, "interval": interval}).encode()
    out, err = await child.communicate(request)
    if child.returncode != 0:
        raise NewswatchError(
            "could not build the watch deployment from the ingest flow: "
            + (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        )
    spec: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return spec


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
    from prefect.runner import Runner

    runner = Runner(name=SERVE_NAME, limit=1, query_seconds=max(min(interval / 2, 10.0), 1.0))
    since = datetime.now(UTC) - timedelta(seconds=1)
    deployment = served_deployment(await _deployment_in_child(parameters, interval))
    stand_in: Any = IngestByReference(deployment)
    deployment_id = await runner.aadd_flow(stand_in, name=SERVE_NAME)
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
                    if stop.level == 1:  # no new run; the one in flight finishes
                        runner.stopping = True
                        poller = getattr(runner, "_scheduled_run_poller", None)
                        if poller is not None:
                            poller.stopping = True
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


if __name__ == "__main__":  # serve_watch's child: a deployment request on stdin, JSON out
    import json
    import sys

    request = json.load(sys.stdin)
    print(json.dumps(ingest_deployment(request["parameters"], float(request["interval"]))))
