"""A lake's upkeep in SQL (issue 16, item 5): compaction, snapshot expiry, file cleanup.

Every load commits a few small Parquet files and one snapshot per batch, and DuckLake never
deletes a file by itself (old files stay readable by time travel). The steps, each one
``CALL`` of the ducklake extension (1.5.5: the functions below were tried one by one, see
``tests/test_lake_maintenance.py``), in this order:

1. ``flush-inlined-data`` — rows DuckLake kept inline in the catalog (small inserts, the
   write guard's updates) written out to Parquet (``ducklake_flush_inlined_data``);
2. ``merge-adjacent-files`` — each table's small files merged (``ducklake_merge_adjacent_files``);
   the files replaced are scheduled for deletion, not deleted;
3. ``expire-snapshots`` — snapshots older than ``keep_snapshots`` (7 days by default)
   dropped (``ducklake_expire_snapshots``): time travel and an undo reach back that far,
   no further; the newest snapshot is always kept;
4. ``cleanup-old-files`` — files scheduled for deletion at least ``delete_after`` ago
   removed (``ducklake_cleanup_old_files``): a reader that began before the merge may
   still scan them until then;
5. ``delete-orphaned-files`` — files in the data path that no snapshot knows and that are
   older than ``orphan_grace`` removed (``ducklake_delete_orphaned_files``): what a killed
   writer wrote before its commit. A file of a load still in flight is not committed yet
   either, so the grace must be longer than any load (1 day by default).

Safe beside loads and readers: the steps change no table's contents. A compaction cannot
share a transaction with changes (ducklake refuses: "Transactions can either make changes
OR perform compaction - not both"), so no step takes the load's write guard; each runs in
its own transaction through ``lake.commit_with_retry`` and is re-run when it loses a race
with a load's commit (and a load that loses to it is re-run by its own retry). A step that
fails for another reason is reported and the next step still runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.lake import LAKE, commit_with_retry

STEPS: tuple[str, ...] = (
    "flush-inlined-data",
    "merge-adjacent-files",
    "expire-snapshots",
    "cleanup-old-files",
    "delete-orphaned-files",
)


@dataclass(frozen=True)
class MaintenancePolicy:
    """How far back the lake keeps history, and how long unreferenced files wait."""

    keep_snapshots: timedelta = timedelta(days=7)
    delete_after: timedelta = timedelta(days=1)
    orphan_grace: timedelta = timedelta(days=1)

    @classmethod
    def of(
        cls, keep_days: float, delete_after_hours: float, orphan_grace_hours: float
    ) -> MaintenancePolicy:
        """The policy the flow's and the command's numeric parameters describe."""
        return cls(
            keep_snapshots=timedelta(days=keep_days),
            delete_after=timedelta(hours=delete_after_hours),
            orphan_grace=timedelta(hours=orphan_grace_hours),
        )

    def __post_init__(self) -> None:
        for name in ("keep_snapshots", "delete_after", "orphan_grace"):
            if getattr(self, name) < timedelta(0):
                raise WarehouseError(f"maintenance: {name} cannot be negative")


@dataclass(frozen=True)
class StepReport:
    """One step: ``count`` is files merged, snapshots expired or files deleted."""

    step: str
    count: int
    detail: str
    seconds: float
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class LakeFiles:
    """What the lake holds at one moment (for the report and the tests)."""

    snapshots: int
    data_files: int  # live (in the newest snapshot), all tables
    scheduled: int  # files waiting for ``cleanup-old-files``


@dataclass(frozen=True)
class MaintenanceReport:
    steps: tuple[StepReport, ...]
    before: LakeFiles
    after: LakeFiles

    @property
    def failed(self) -> tuple[StepReport, ...]:
        return tuple(s for s in self.steps if s.error is not None)


def _interval(delta: timedelta) -> str:
    return f"INTERVAL '{int(delta.total_seconds() * 1_000_000)} microseconds'"


def step_sql(step: str, policy: MaintenancePolicy) -> str:
    """The one ``CALL`` a step runs on the lake attached as ``lake.LAKE``."""
    name = f"'{LAKE}'"
    if step == "flush-inlined-data":
        return f"CALL ducklake_flush_inlined_data({name})"
    if step == "merge-adjacent-files":
        return f"CALL ducklake_merge_adjacent_files({name})"
    if step == "expire-snapshots":
        older = _interval(policy.keep_snapshots)
        return f"CALL ducklake_expire_snapshots({name}, older_than => now() - {older})"
    if step == "cleanup-old-files":
        older = _interval(policy.delete_after)
        return f"CALL ducklake_cleanup_old_files({name}, older_than => now() - {older})"
    if step == "delete-orphaned-files":
        older = _interval(policy.orphan_grace)
        return f"CALL ducklake_delete_orphaned_files({name}, older_than => now() - {older})"
    raise WarehouseError(f"unknown maintenance step {step!r} (one of {', '.join(STEPS)})")


def _summary(step: str, rows: Sequence[tuple[object, ...]]) -> tuple[int, str]:
    if step == "flush-inlined-data":  # (schema, table, rows_flushed)
        flushed = sum(int(str(r[2])) for r in rows)
        return flushed, f"{flushed} inlined row(s) of {len(rows)} table(s) written out"
    if step == "merge-adjacent-files":  # (schema, table, files_processed, files_created)
        merged = sum(int(str(r[2])) for r in rows)
        created = sum(int(str(r[3])) for r in rows)
        return merged, f"{merged} file(s) of {len(rows)} table(s) merged into {created}"
    if step == "expire-snapshots":  # one row per snapshot expired
        return len(rows), f"{len(rows)} snapshot(s) expired"
    return len(rows), f"{len(rows)} file(s) deleted"  # one row (path) per file


def run_step(
    con: duckdb.DuckDBPyConnection, step: str, policy: MaintenancePolicy | None = None
) -> StepReport:
    """Run one step in its own transaction (re-run when it loses a race with a commit)."""
    sql = step_sql(step, policy or MaintenancePolicy())
    attempts = 0

    def work(c: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
        nonlocal attempts
        attempts += 1
        return c.execute(sql).fetchall()

    started = time.perf_counter()
    try:
        rows = commit_with_retry(con, work, attempts=20, guard=False)
    except (duckdb.Error, WarehouseError) as exc:
        error = str(exc).splitlines()[0]
        return StepReport(
            step, 0, f"failed: {error}", time.perf_counter() - started, attempts, error
        )
    count, detail = _summary(step, rows)
    return StepReport(step, count, detail, time.perf_counter() - started, attempts)


def lake_files(con: duckdb.DuckDBPyConnection) -> LakeFiles:
    """Snapshots, live data files and files scheduled for deletion, read from the catalog
    through the lake's metadata schema (``__ducklake_metadata_lake``)."""
    meta = f"__ducklake_metadata_{LAKE}"
    row = con.execute(
        f"""
        SELECT (SELECT count(*) FROM {meta}.ducklake_snapshot),
               (SELECT count(*) FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL),
               (SELECT count(*) FROM {meta}.ducklake_files_scheduled_for_deletion)
        """
    ).fetchone()
    assert row is not None
    return LakeFiles(int(row[0]), int(row[1]), int(row[2]))


def maintain_lake(
    con: duckdb.DuckDBPyConnection,
    policy: MaintenancePolicy | None = None,
    *,
    steps: Sequence[str] = STEPS,
    on_step: Callable[[StepReport], None] | None = None,
) -> MaintenanceReport:
    """Every step in order on the lake open on ``con`` (``lake.open_lake``, a writer)."""
    policy = policy or MaintenancePolicy()
    before = lake_files(con)
    reports = []
    for step in steps:
        report = run_step(con, step, policy)
        reports.append(report)
        if on_step is not None:
            on_step(report)
    return MaintenanceReport(tuple(reports), before, lake_files(con))
