"""kill -9 during lake loads and maintenance, at >= 20 points; re-run; compare with a clean run
(issue 16: "kill -9 at >= 20 points during loads and maintenance: re-run -> same table hashes
as a clean run").

Each case is its own lake and staging folder. A worker process (tests/lake_crash_worker.py)
creates the lake's schema, loads the staged batches (a sample week and the batch that
exercises every load rule) and runs every maintenance step with nothing kept; it SIGKILLs
itself at the chosen point: before the k-th statement (schema creation, write guard, batch
statements), inside a COMMIT, between a batch's commit and its move to ``loaded/``, or
inside each maintenance CALL (merge, expiry, file deletion). The same worker then runs again
without a kill. Every case must end with the clean run's rows in every table (sorted rows
hashed, load-clock columns aside), no key stored twice, no failed maintenance step, and no
Parquet file on disk that the catalog does not know (what the killed writer left is gone).

One re-run in the first 26-case campaign died of a native abort in duckdb 1.5.5 ("double
free or corruption (fasttop)", after a kill inside a COMMIT; its load was done, the abort
came in the maintenance after it) and the next re-run converged; 3 repeats of that case did
not abort. Such a re-run is run once more and counted in the printed table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from newswatch.warehouse.lake import LakeConfig, open_lake
from newswatch.warehouse.sample import sample_batches
from tests.test_lake_load import CLOCK, ORDER, duplicate_keys, extras_batch, lake_state, stage

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("lake_crash_worker.py")
REPO_ROOT = Path(__file__).resolve().parent.parent
SKIP = {t: CLOCK.get(t, set()) | ORDER.get(t, set()) for t in {*CLOCK, *ORDER}}


@dataclass(frozen=True)
class Outcome:
    point: str
    killed: bool
    rerun_ok: bool
    same: bool
    duplicates: int
    stray_files: int
    failed_steps: int
    aborted_reruns: int = 0  # re-runs that died of a native abort (another re-run followed)
    detail: str = ""


def work(folder: Path, staged: Path, crash_at: str | None = None) -> tuple[int, dict, str]:
    config = LakeConfig.embedded(folder / "home")
    env = {k: v for k, v in os.environ.items() if k != "LAKE_CRASH_AT"}
    if crash_at:
        env["LAKE_CRASH_AT"] = crash_at
    process = subprocess.run(
        [sys.executable, str(WORKER), json.dumps(asdict(config)), str(staged)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = process.stdout.strip().splitlines()
    return process.returncode, json.loads(out[-1]) if out else {}, process.stderr[-2000:]


def stray_files(config: LakeConfig) -> int:
    """Parquet files on disk minus the files the catalog knows (every snapshot but the
    newest is expired by then, so every known file is a live one)."""
    on_disk = len(list(Path(config.data_path).rglob("*.parquet")))
    with open_lake(config, read_only=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM __ducklake_metadata_lake.ducklake_data_file) "
            "+ (SELECT count(*) FROM __ducklake_metadata_lake.ducklake_delete_file)"
        ).fetchone()
    assert row is not None
    return on_disk - int(row[0])


def kill_and_rerun(folder: Path, template: Path, point: str, reference: dict) -> Outcome:
    staged = folder / "staged"
    shutil.copytree(template, staged)
    code, _, _ = work(folder, staged, point)
    rerun, result, err = work(folder, staged)
    aborted, detail = 0, ""
    if rerun < 0:  # a native abort in duckdb 1.5.5 (seen once in 26 cases): run once more
        aborted, detail = 1, err.strip().splitlines()[-1] if err.strip() else f"signal {-rerun}"
        rerun, result, err = work(folder, staged)
    config = LakeConfig.embedded(folder / "home")
    if rerun != 0:
        return Outcome(point, code == -9, False, False, -1, -1, -1, aborted, err)
    return Outcome(
        point,
        killed=code == -9,
        rerun_ok=result["report"]["batches_left"] == 0,
        same=lake_state(config, SKIP) == reference,
        duplicates=sum(duplicate_keys(config).values()),
        stray_files=stray_files(config),
        failed_steps=len(result["failed"]),
        aborted_reruns=aborted,
        detail=detail,
    )


def spread(total: int, count: int) -> list[int]:
    """``count`` hit numbers spread evenly over 1..total."""
    return sorted({max(1, round(total * (i + 1) / (count + 1))) for i in range(count)})


def test_kill_minus_nine_during_loads_and_maintenance_then_rerun_matches_a_clean_run(
    tmp_path: Path,
) -> None:
    first = sample_batches(days=7)[0]
    template = stage([first, extras_batch([first])], tmp_path / "template")
    clean = tmp_path / "clean"
    shutil.copytree(template, clean / "staged")
    code, result, err = work(clean, clean / "staged")
    assert code == 0 and result["failed"] == [], err
    hits = result["hits"]  # e.g. {"stmt": 150, "commit": 27, "moved": 2, "call": 5}
    clean_config = LakeConfig.embedded(clean / "home")
    reference = lake_state(clean_config, SKIP)
    assert stray_files(clean_config) == 0

    points = [f"stmt:{k}" for k in spread(hits["stmt"], 10)]
    points += [f"stmt:{k}:0.05" for k in spread(hits["stmt"], 4)]
    points += [f"commit:{k}:0.01" for k in spread(hits["commit"], 5)]
    points += [f"moved:{k}" for k in range(1, hits["moved"] + 1)]
    points += [f"call:{k}:0.02" for k in range(1, hits["call"] + 1)]
    assert len(points) >= 20
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(
            pool.map(
                lambda case: kill_and_rerun(tmp_path / f"kill{case[0]:02d}", template, case[1],
                                            reference),
                enumerate(points),
            )
        )  # fmt: skip

    print(f"\nclean run: {hits}; {len(points)} kill points")
    print(f"{'kill point':<18} {'killed':>6} {'rerun':>5} {'same':>5} {'dups':>4} {'stray':>5}")
    for o in outcomes:
        print(
            f"{o.point:<18} {o.killed!s:>6} {o.rerun_ok!s:>5} {o.same!s:>5} {o.duplicates:>4} "
            f"{o.stray_files:>5} {o.detail[-200:]}"
        )
    aborts = sum(o.aborted_reruns for o in outcomes)
    print(f"{aborts} re-run(s) died of a native abort and converged on the next re-run")
    assert sum(o.killed for o in outcomes) >= 20
    bad = [o for o in outcomes if not (o.rerun_ok and o.same) or o.duplicates or o.failed_steps]
    assert bad == []
    assert [o for o in outcomes if o.stray_files] == []
