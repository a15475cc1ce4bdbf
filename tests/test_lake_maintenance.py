"""A lake's maintenance (warehouse/lake_maintenance.py, flows/maintenance.py, `newswatch
maintain`) on real lakes loaded by the real lake load, and beside a loader process.

Each step is checked for what it did (files merged, snapshots expired, scheduled and
orphaned files deleted, a fresh orphan kept) and for what it must not do: every table's
rows are the same before and after, and a loader running at the same time in another
process ends with exactly the rows a file load of the same batches stores.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.warehouse.db import connect
from newswatch.warehouse.lake import LakeConfig, open_lake, search_index_path
from newswatch.warehouse.lake_load import load_staged_into_lake
from newswatch.warehouse.lake_maintenance import (
    STEPS,
    MaintenancePolicy,
    StepReport,
    lake_files,
    maintain_lake,
)
from newswatch.warehouse.lake_search import publish_lake_index
from newswatch.warehouse.load import load_staged
from newswatch.warehouse.sample import sample_batches
from tests.test_lake_load import (
    CLOCK,
    ORDER,
    all_batches,
    create_schema,
    duplicate_keys,
    file_state,
    lake_state,
    result,
    stage,
    start,
)

NOW = timedelta(0)
EVERYTHING = MaintenancePolicy(NOW, NOW, NOW)  # nothing kept: only when no writer runs


def counts(steps: tuple[StepReport, ...], names: tuple[str, ...] = STEPS) -> dict[str, int]:
    assert [s.step for s in steps] == list(names)
    assert [s.error for s in steps] == [None] * len(names), steps
    return {s.step: s.count for s in steps}


def parquet_files(config: LakeConfig) -> set[Path]:
    return set(Path(config.data_path).rglob("*.parquet"))


def test_each_step_keeps_every_row_and_removes_only_unused_files(tmp_path: Path) -> None:
    config = LakeConfig.embedded(tmp_path / "home")
    load_staged_into_lake(config, stage(all_batches(), tmp_path / "staged"))
    before = lake_state(config, {})

    with open_lake(config) as con:  # rows kept inline in the catalog go to files first
        flushed = maintain_lake(con, steps=STEPS[:1])
        report = maintain_lake(con, steps=STEPS[1:])  # the defaults: 7 days, 1 day's grace
    assert counts(flushed.steps, STEPS[:1])["flush-inlined-data"] > 0
    assert flushed.after.data_files > flushed.before.data_files
    done = counts(report.steps, STEPS[1:])
    assert done["merge-adjacent-files"] > 0
    assert done["expire-snapshots"] == done["cleanup-old-files"] == 0  # all younger than that
    assert report.after.data_files < report.before.data_files
    assert report.after.scheduled >= done["merge-adjacent-files"]  # replaced, not deleted yet
    assert lake_state(config, {}) == before

    files = parquet_files(config)
    old, fresh = (Path(config.data_path) / "main" / f"{n}.parquet" for n in ("old", "fresh"))
    for orphan in (old, fresh):
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"written by a writer killed before its commit")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    with open_lake(config) as con:
        report = maintain_lake(con, MaintenancePolicy(NOW, NOW, timedelta(hours=1)))
        done = counts(report.steps)
        assert done["expire-snapshots"] == report.before.snapshots - 1  # the newest stays
        assert done["cleanup-old-files"] == report.before.scheduled > 0
        assert done["delete-orphaned-files"] == 1
        assert lake_files(con).snapshots == 1 and lake_files(con).scheduled == 0
    assert not old.exists() and fresh.exists()  # an orphan younger than the grace is kept
    assert len(parquet_files(config)) < len(files)
    assert lake_state(config, {}) == before
    assert set(duplicate_keys(config).values()) == {0}

    with open_lake(config) as con:  # nothing left to do: nothing done
        again = counts(maintain_lake(con, MaintenancePolicy(NOW, NOW, timedelta(hours=1))).steps)
    assert again == dict.fromkeys(STEPS, 0)


def test_a_negative_policy_is_refused() -> None:
    with pytest.raises(Exception, match="cannot be negative"):
        MaintenancePolicy(keep_snapshots=timedelta(days=-1))


@pytest.mark.slow
def test_maintenance_beside_a_loader_keeps_the_union_of_its_batches(tmp_path: Path) -> None:
    """A loader process loads the sample's batches while this process runs every step over
    and over (snapshots expired at once; files deleted only after the default grace, which
    is what keeps a load's in-flight files and a reader's scans safe)."""
    config = LakeConfig.embedded(tmp_path / "home")
    # 12 weekly batches: since a batch's empty tables run no statement, the default 6 could
    # load before two rounds of the steps ran beside them (2 of 9 runs failed; 0 of 5 so)
    batches = sample_batches(days=84)
    create_schema(config)
    go = tmp_path / "go"
    loader = start("loader", json.dumps(asdict(config)), stage(batches, tmp_path / "a"), go)
    time.sleep(1.0)
    go.touch()
    rounds: list[StepReport] = []
    with open_lake(config) as con:
        while loader.poll() is None:
            rounds += maintain_lake(con, MaintenancePolicy(keep_snapshots=NOW)).steps
            time.sleep(0.3)
    loaded = result(loader)

    assert loaded["report"]["batches_loaded"] == len(batches)
    assert loaded["report"]["batches_left"] == 0
    assert [s for s in rounds if s.error] == []
    merged = sum(s.count for s in rounds if s.step == "merge-adjacent-files")
    assert len(rounds) >= 2 * len(STEPS) and merged > 0  # it did work during the load
    reference = tmp_path / "reference.duckdb"
    connect(reference).close()
    load_staged(reference, stage(batches, tmp_path / "b"))
    skip = {t: CLOCK.get(t, set()) | ORDER.get(t, set()) for t in {*CLOCK, *ORDER}}
    assert lake_state(config, skip) == file_state(reference, skip)
    assert set(duplicate_keys(config).values()) == {0}
    with open_lake(config) as con:  # and once more with nothing kept, nobody writing
        assert counts(maintain_lake(con, EVERYTHING).steps)["cleanup-old-files"] > 0
    assert lake_state(config, skip) == file_state(reference, skip)
    retries = sum(s.attempts - 1 for s in rounds)
    load_retries = sum(b["attempts"] - 1 for b in loaded["batches"])
    print(
        f"\n{len(rounds) // len(STEPS)} maintenance rounds beside a {len(batches)}-batch load "
        f"({loaded['seconds']:.1f} s): {merged} files merged, {retries} step re-runs, "
        f"{load_retries} batch re-runs"
    )


def test_maintain_command_on_a_file_and_on_a_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["maintain", "--db", str(tmp_path / "newswatch.duckdb")]) == 0
    assert "nothing to do" in capsys.readouterr().out
    lake = tmp_path / "home" / "newswatch.lake.sqlite"
    assert main(["maintain", "--db", str(lake)]) == 0
    assert "no lake at" in capsys.readouterr().out
    assert not lake.exists()  # maintenance creates no lake
    config = LakeConfig.for_path(lake)
    load_staged_into_lake(config, stage(sample_batches(days=14), tmp_path / "staged"))
    before = lake_state(config, {})
    assert main(["maintain", "--db", str(lake), "--keep-days", "0",
                 "--delete-after-hours", "0"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "merge-adjacent-files: " in out and "file(s) deleted" in out
    assert "-> 1 snapshot(s)" in out and "0 file(s) waiting for deletion" in out
    assert lake_state(config, {}) == before
    assert main(["maintain", "--db", str(lake), "--keep-days", "-1"]) == 2


def search_articles(lake: Path, query: str) -> list[str]:
    from newswatch.warehouse.lake_search import attach_index
    from newswatch.warehouse.search import search

    with connect(lake, read_only=True) as con:
        attach_index(con, search_index_path(lake))
        return [hit.article_id for hit in search(con, query, limit=50)]


def test_the_flow_reports_each_step_and_does_nothing_on_a_file(
    tmp_path: Path, prefect_harness: None
) -> None:
    from newswatch.flows.maintenance import maintain

    file_db = tmp_path / "newswatch.duckdb"
    summary = maintain(db=str(file_db))
    assert not summary.lake and "nothing to do" in summary.note and not file_db.exists()

    lake = tmp_path / "home" / "newswatch.lake.sqlite"
    config = LakeConfig.for_path(lake)
    load_staged_into_lake(config, stage(sample_batches(days=14), tmp_path / "staged"))
    before = lake_state(config, {})
    first = maintain(db=str(lake))  # the defaults: merged, nothing expired or deleted
    assert first.index_seconds is None  # no search index yet
    assert first.before is not None and first.after is not None
    assert first.after.data_files < first.before.data_files
    assert first.after.scheduled > 0
    publish_lake_index(lake, search_index_path(lake))
    found = search_articles(lake, "drones")
    summary = maintain(db=str(lake), keep_days=0, delete_after_hours=0)
    assert summary.index_seconds is not None and "postings re-sorted" in summary.to_markdown()
    assert search_articles(lake, "drones") == found and found
    assert [s.step for s in summary.steps] == list(STEPS) and not summary.failed
    assert summary.after is not None and summary.after.snapshots == 1
    assert summary.after.scheduled == 0  # everything replaced by the first merge deleted
    markdown = summary.to_markdown()
    assert all(f"| {step} |" in markdown for step in STEPS)
    assert lake_state(config, {}) == before
