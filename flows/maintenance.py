"""The ``maintain`` flow: a lake's compaction, snapshot expiry and file cleanup (issue 16).

One task per step of ``warehouse/lake_maintenance.py`` (flush inlined rows, merge small
files, expire snapshots older than ``keep_days``, delete files scheduled for deletion at
least ``delete_after_hours`` ago, delete orphaned files older than ``orphan_grace_hours``),
then one re-sorting the search index file's postings (``lake_search.compact_lake_index``),
on its own schedule in prefect.yaml (``maintain/daily-maintenance``, 03:30 UTC), and a
``maintenance-summary`` artifact with what each step did. It runs beside loads and readers:
no step changes a table's contents, and each commits on its own (see the module's notes).

A DuckDB-file warehouse has no snapshots or small files to keep (DuckDB checkpoints the file
on every close): the flow says so and opens nothing. The run ends **Failed** when a step
failed; the other steps still ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from newswatch.core.errors import NewswatchError
from newswatch.warehouse.db import connect, is_lake_catalog
from newswatch.warehouse.lake import search_index_path
from newswatch.warehouse.lake_maintenance import (
    STEPS,
    LakeFiles,
    MaintenancePolicy,
    StepReport,
    lake_files,
    run_step,
)
from newswatch.warehouse.lake_search import compact_lake_index

SUMMARY_KEY = "maintenance-summary"
NOTHING_TO_DO = (
    "nothing to do: {db} is a DuckDB file (no snapshots or small files to maintain; DuckDB "
    "checkpoints it on every close). Maintenance is for a lake (--db PATH.lake.sqlite)."
)
NO_LAKE_YET = "nothing to do: no lake at {db} yet (the first load creates it)"


@dataclass(frozen=True)
class MaintenanceSummary:
    db: str
    lake: bool
    note: str = ""  # why nothing was done
    steps: tuple[StepReport, ...] = ()
    before: LakeFiles | None = None
    after: LakeFiles | None = None
    index_seconds: float | None = None  # the search index's postings re-sorted (None: no index)

    @property
    def failed(self) -> tuple[StepReport, ...]:
        return tuple(s for s in self.steps if s.error is not None)

    def lines(self) -> list[str]:
        if self.note:
            return [self.note]
        lines = [f"{s.step}: {s.detail} ({s.seconds:.2f} s)" for s in self.steps]
        if self.index_seconds is not None:
            lines.append(f"search-index: postings re-sorted ({self.index_seconds:.2f} s)")
        if self.before and self.after:
            lines.append(
                f"lake: {self.before.snapshots} -> {self.after.snapshots} snapshot(s), "
                f"{self.before.data_files} -> {self.after.data_files} data file(s), "
                f"{self.after.scheduled} file(s) waiting for deletion"
            )
        return lines

    def to_markdown(self) -> str:
        if self.note:
            return f"# Maintenance\n\n{self.note}\n"
        rows = [
            f"| {s.step} | {s.count} | {s.detail} | {s.seconds:.2f} | {s.attempts} |"
            for s in self.steps
        ]
        table = "\n".join(
            ["| step | count | what | seconds | attempts |", "|---|---:|---|---:|---:|", *rows]
        )
        tail = self.lines()[-1] if self.before and self.after else ""
        index = (
            "search index: none yet"
            if self.index_seconds is None
            else f"search index: postings re-sorted in {self.index_seconds:.2f} s"
        )
        return f"# Maintenance of `{self.db}`\n\n{table}\n\n{index}\n\n{tail}\n"


def _step_task(step: str) -> Task[[str, MaintenancePolicy], StepReport]:
    @task(name=f"lake-{step}", cache_policy=NO_CACHE)
    def run(db: str, policy: MaintenancePolicy) -> StepReport:
        with connect(Path(db)) as con:
            return run_step(con, step, policy)

    return run


STEP_TASKS = {step: _step_task(step) for step in STEPS}


@task(name="search-index-compact", cache_policy=NO_CACHE)
def compact_index(db: str) -> float | None:
    """The lake's BM25 index file re-sorted (``lake_search.compact_lake_index``: it takes the
    index's publish lock, so a load's publish waits for it or it for the publish)."""
    index = search_index_path(Path(db))
    return compact_lake_index(index) if index.is_file() else None


@task(name="lake-files", cache_policy=NO_CACHE)
def count_files(db: str) -> LakeFiles:
    with connect(Path(db), read_only=True) as con:
        return lake_files(con)


class MaintenanceFailed(NewswatchError):
    """A step failed (the others ran): the data of the run's Failed state, raised by an
    in-process call of the flow, with the summary."""

    def __init__(self, message: str, summary: MaintenanceSummary) -> None:
        super().__init__(message)
        self.summary = summary


@flow(name="maintain", log_prints=False)
def maintain(
    db: str = "data/newswatch.duckdb",
    keep_days: float = 7.0,
    delete_after_hours: float = 24.0,
    orphan_grace_hours: float = 24.0,
) -> MaintenanceSummary:
    """Maintain the lake at ``db`` (a ``.lake.sqlite`` catalog); a DuckDB file: nothing."""
    logger = get_run_logger()
    if not is_lake_catalog(db):
        summary = MaintenanceSummary(db, False, NOTHING_TO_DO.format(db=db))
    elif not Path(db).is_file():
        summary = MaintenanceSummary(db, True, NO_LAKE_YET.format(db=db))
    else:
        policy = MaintenancePolicy.of(keep_days, delete_after_hours, orphan_grace_hours)
        connect(Path(db)).close()  # its schema current (as every writer) before the steps
        before = count_files(db)
        steps = tuple(STEP_TASKS[step](db, policy) for step in STEPS)
        index_seconds = compact_index(db)
        summary = MaintenanceSummary(db, True, "", steps, before, count_files(db), index_seconds)
    create_markdown_artifact(summary.to_markdown(), key=SUMMARY_KEY)
    for line in summary.lines():
        logger.info(line)
    if not summary.failed:
        return summary
    reason = f"maintenance step(s) failed: {', '.join(s.step for s in summary.failed)}"
    logger.error(reason)
    # the ignore: Prefect ends a flow that returns a State in that state (as flows/ingest.py)
    return Failed(message=reason, data=MaintenanceFailed(reason, summary))  # type: ignore[return-value]
