"""Case 32 (and 45): kill -9 the real ingest at 24 points, re-run, compare with a clean run.

Each kill runs in its own data directory: a subprocess ``newswatch run`` (via crashable.py)
is SIGKILLed at a named point of its life -- polling, fetching, extracting, matching,
writing the staged Parquet, inside the load transaction, just before/after COMMIT, at
CHECKPOINT, publishing the snapshot, between sending alerts and marking them sent -- or at a
random wall-clock offset. Then the same command re-runs to completion, and the database must
equal the clean run's (row counts and content hashes), hold no duplicate, and every alert
must have reached the file channel, at most twice, and at most one message repeated per kill
(the one in flight between its send and its "sent" mark, with the same idempotency key).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from newswatch.warehouse.staging import REJECTED_DIR, staged_batches
from tests.reliability.conftest import CleanRun
from tests.reliability.harness import (
    Fingerprint,
    RunResult,
    alert_deliveries,
    fingerprint,
    run_ingest,
    survivors,
)

pytestmark = pytest.mark.slow

# (point, hit, delay in seconds after reaching it); see crashable.install() for the names
NAMED_KILLS: tuple[tuple[str, int, float], ...] = (
    ("poll", 1, 0.0),
    ("poll", 1, 0.3),  # inside the feed requests
    ("fetch", 1, 0.2),  # page requests in flight
    ("extract", 1, 0.0),
    ("extract", 1, 1.0),  # extraction pool working
    ("judge", 1, 0.3),
    ("raise-alerts", 1, 0.0),
    ("stage-write", 1, 0.0),  # nothing staged yet
    ("stage-write", 5, 0.0),  # half the Parquet files written
    ("load", 1, 0.0),  # batch staged, not loaded
    ("load-transaction", 2, 0.0),  # transaction open, nothing inserted
    ("load-transaction", 4, 0.0),  # every table written, not committed
    ("load-commit", 1, 0.0),
    ("load-commit", 1, 0.003),  # during COMMIT
    ("load-move", 1, 0.0),  # committed, batch still in staging/
    ("load-checkpoint", 1, 0.0),  # committed to the WAL only
    ("load-checkpoint", 1, 0.01),  # during CHECKPOINT
    ("snapshot", 1, 0.05),  # copying the snapshot
    ("alert-send", 1, 0.0),
    ("alert-send", 30, 0.0),  # 29 messages delivered and marked, the 30th not sent
    ("alert-mark", 1, 0.0),  # the first message delivered, not yet marked sent
    ("alert-mark", 20, 0.0),  # 20 delivered, 19 marked
)
RANDOM_KILLS = 3
SEED = 20260501


@dataclass(frozen=True)
class KillOutcome:
    label: str
    killed: bool
    died_after: str
    orphans: int  # processes of the killed run still alive 5 s later
    orphan_commands: tuple[str, ...]
    db_opened_after_kill: bool
    rerun_code: int
    fingerprint: Fingerprint
    deliveries: Counter[str]
    pending_batches: int
    rejected_batches: int


def db_opens(db: Path) -> bool:
    if not db.exists():
        return True  # killed before the first write: nothing to open
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            tables = {name for (name,) in rows}
            # killed while the first run created the file: no table yet (the next run
            # migrates it); once the schema exists, its tables must read
            if "articles" in tables:
                con.execute("SELECT count(*) FROM articles").fetchone()
    except duckdb.Error:
        return False
    return True


def left_behind(workdir: Path, grace: float = 5.0) -> tuple[str, ...]:
    """Command lines of a killed run's processes (extraction workers, forkserver) still
    alive after ``grace`` seconds; they are then killed so they cannot disturb the re-run."""
    deadline = time.monotonic() + grace
    while survivors(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    stuck = survivors(workdir)
    commands = tuple(command_line(pid) for pid in stuck)
    for pid in stuck:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return commands


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"{pid}: (gone)"
    return f"{pid}: " + raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


def kill_and_rerun(
    workdir: Path,
    sources: Path,
    env: dict[str, str],
    label: str,
    crash_at: str | None = None,
    crash_after: float | None = None,
) -> KillOutcome:
    killed = run_ingest(workdir, sources, env, crash_at=crash_at, crash_after=crash_after)
    orphans = left_behind(workdir)
    opened = db_opens(workdir / "news.duckdb")
    rerun = run_ingest(workdir, sources, env)
    assert rerun.returncode == 0, f"{label}: re-run failed\n{rerun.stdout}\n{rerun.stderr}"
    staging = workdir / "staging"
    rejected = staging / REJECTED_DIR
    return KillOutcome(
        label=label,
        killed=killed.returncode == -9,
        died_after=killed.last_point,
        orphans=len(orphans),
        orphan_commands=orphans,
        db_opened_after_kill=opened,
        rerun_code=rerun.returncode,
        fingerprint=fingerprint(workdir / "news.duckdb"),
        deliveries=alert_deliveries(workdir / "alerts.jsonl"),
        pending_batches=len(staged_batches(staging)),
        rejected_batches=len(list(rejected.iterdir())) if rejected.is_dir() else 0,
    )


def random_offsets(clean: RunResult, count: int) -> list[float]:
    """Offsets from process start spread over the clean run's poll-to-end window."""
    start = clean.trace[0][2]
    first = next(t for name, _, t in clean.trace if name == "poll") - start
    last = clean.trace[-1][2] - start
    rng = random.Random(SEED)
    return sorted(round(rng.uniform(first, last), 2) for _ in range(count))


def test_kill_minus_nine_anywhere_then_rerun_converges_to_the_clean_run(
    clean_run: CleanRun,
    run_env: dict[str, str],
    sites_sources: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean = clean_run.result
    expected = clean_run.fingerprint
    expected_alerts = set(clean_run.alert_ids)
    assert expected.rows["articles"] > 50 and expected_alerts

    jobs: list[tuple[str, str | None, float | None]] = [
        (f"{p}#{n}+{d:g}s", f"{p}:{n}:{d}", None) for p, n, d in NAMED_KILLS
    ]
    jobs += [(f"t+{s:.2f}s", None, s) for s in random_offsets(clean, RANDOM_KILLS)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(
                kill_and_rerun, tmp_path / f"kill{i:02d}", sites_sources, run_env, label, at, t
            )
            for i, (label, at, t) in enumerate(jobs)
        ]
        outcomes = [f.result() for f in futures]

    lost = dup_articles = dup_alert_rows = missing_alerts = repeats = over_twice = 0
    lines = [
        f"{'kill point':<24} {'died after':<18} {'killed':>6} {'opens':>5} {'tables':>6} "
        f"{'lost':>4} {'dups':>4} {'alerts':>6} {'repeats':>7} {'orphans':>7}"
    ]
    for o in outcomes:
        fp = o.fingerprint
        lost_here = max(expected.rows["articles"] - fp.rows["articles"], 0)
        dups_here = fp.duplicate_articles + max(fp.rows["articles"] - expected.rows["articles"], 0)
        missing_here = len(expected_alerts - set(o.deliveries))
        repeats_here = sum(c - 1 for c in o.deliveries.values() if c > 1)
        lost += lost_here
        dup_articles += dups_here
        dup_alert_rows += fp.duplicate_alert_keys
        missing_alerts += missing_here
        repeats += repeats_here
        over_twice += sum(c > 2 for c in o.deliveries.values())
        same = "same" if fp.hashes == expected.hashes else "DIFF"
        lines.append(
            f"{o.label:<24} {o.died_after:<18} {o.killed!s:>6} {o.db_opened_after_kill!s:>5} "
            f"{same:>6} {lost_here:>4} {dups_here:>4} {len(o.deliveries):>6} {repeats_here:>7} "
            f"{o.orphans:>7}"
        )
    kills = sum(o.killed for o in outcomes)
    phases = Counter(o.died_after for o in outcomes if o.killed)
    lines.append(
        f"{kills} kill -9 points ({dict(phases)}): {lost} articles lost, {dup_articles} "
        f"duplicate articles, {dup_alert_rows} duplicate alert rows, {missing_alerts} alerts "
        f"never delivered, {repeats} repeated deliveries (same key), "
        f"{sum(o.db_opened_after_kill for o in outcomes)}/{len(outcomes)} DB opens after the "
        f"kill, {sum(o.fingerprint.hashes == expected.hashes for o in outcomes)}/"
        f"{len(outcomes)} table hashes identical to the clean run, "
        f"{sum(o.orphans for o in outcomes)} orphan processes "
        f"({expected.rows['articles']} articles, {expected.rows['alerts']} alerts)"
    )
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    (tmp_path / "crash-table.txt").write_text("\n".join(lines), encoding="utf-8")

    assert kills >= 20
    assert sum(o.orphans for o in outcomes) == 0, [
        (o.label, o.orphan_commands) for o in outcomes if o.orphans
    ]
    assert all(o.db_opened_after_kill for o in outcomes)
    assert lost == 0 and dup_articles == 0 and dup_alert_rows == 0
    assert missing_alerts == 0
    assert over_twice == 0  # a repeat only for a kill between send and mark, once
    # each message is marked as soon as it is accepted: a kill repeats at most one
    assert all(sum(c - 1 for c in o.deliveries.values()) <= 1 for o in outcomes)
    assert all(o.fingerprint.hashes == expected.hashes for o in outcomes)
    assert all(o.pending_batches == 0 and o.rejected_batches == 0 for o in outcomes)
