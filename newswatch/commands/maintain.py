"""``newswatch maintain``: a lake's compaction, snapshot expiry and file cleanup, now.

The steps of the ``maintain`` flow (``flows/maintenance.py``, deployed daily by prefect.yaml)
run here in this process, without Prefect (``warehouse/lake_maintenance.py``). Safe while a
run loads. A DuckDB-file warehouse has nothing to maintain: it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys

from newswatch.commands.common import add_db_argument, settings_from_args


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "maintain",
        help="compact a lake's small files, expire old snapshots, delete unused files",
        description="On a lake (--db PATH.lake.sqlite): write inlined rows out, merge small "
        "Parquet files, expire snapshots older than --keep-days (time travel reaches back "
        "that far), delete files unused for --delete-after-hours and orphaned files (left by "
        "a killed writer) older than --orphan-grace-hours. Safe beside loads and readers; "
        "the same steps as the `maintain` flow of prefect.yaml. A DuckDB file: nothing to do.",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--keep-days",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="keep the snapshots of the last DAYS days (default: 7)",
    )
    parser.add_argument(
        "--delete-after-hours",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="delete a file no snapshot uses HOURS after it was scheduled "
        "for deletion (default: 24; a reader older than that may fail)",
    )
    parser.add_argument("--orphan-grace-hours", type=float, default=24.0, metavar="HOURS",
                        help="delete a file no snapshot knows once it is HOURS old (default: "
                        "24; must exceed the longest load, whose files are unknown until it "
                        "commits)")  # fmt: skip
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.core.errors import WarehouseError
    from newswatch.warehouse.db import connect, is_lake_catalog
    from newswatch.warehouse.lake import search_index_path
    from newswatch.warehouse.lake_maintenance import MaintenancePolicy, maintain_lake
    from newswatch.warehouse.lake_search import compact_lake_index

    db = settings_from_args(args).db_path
    if not is_lake_catalog(db):
        print(f"nothing to do: {db} is a DuckDB file (maintenance is for a lake, "
              "--db PATH.lake.sqlite; DuckDB checkpoints a file on every close)")  # fmt: skip
        return 0
    if not db.is_file():
        print(f"nothing to do: no lake at {db} yet (the first load creates it)")
        return 0
    try:
        policy = MaintenancePolicy.of(
            args.keep_days, args.delete_after_hours, args.orphan_grace_hours
        )
    except WarehouseError as exc:
        print(f"newswatch maintain: {exc}", file=sys.stderr)
        return 2
    with connect(db) as con:
        report = maintain_lake(con, policy, on_step=lambda s: print(f"{s.step}: {s.detail}"))
    index = search_index_path(db)
    if index.is_file():
        print(f"search-index: postings re-sorted ({compact_lake_index(index):.2f} s)")
    print(
        f"lake: {report.before.snapshots} -> {report.after.snapshots} snapshot(s), "
        f"{report.before.data_files} -> {report.after.data_files} data file(s), "
        f"{report.after.scheduled} file(s) waiting for deletion"
    )
    for failed in report.failed:
        print(f"newswatch maintain: {failed.step} failed: {failed.error}", file=sys.stderr)
    return 1 if report.failed else 0
