"""Item 10: kill -9 ``newswatch alerts send`` just after the k-th delivery (k = 1..24) and
just before the k-th (k = 1, 2, 15, 30); then send again. Each alert reaches the channel at
least once and at most twice, and only the one in flight at the kill twice: each message is
marked sent in its own transaction as soon as the channel accepts it.

Each case has its own warehouse with 30 pending alerts (a real DuckDB file loaded from a
staged batch) and a file channel that counts deliveries by alert id; the sender is the real
CLI under tests/reliability/crashable.py (``alert-send`` = entering a delivery,
``alert-mark`` = delivered, about to record it). No Prefect server is needed.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from newswatch.core.settings import REPO_ROOT
from tests.outbox_fixtures import (
    alerts_file,
    delivered,
    outbox_state,
    pending_alerts,
    warehouse_with_alerts,
)
from tests.reliability.harness import base_env

pytestmark = pytest.mark.slow

ALERTS = 30
# (point, hit): alert-mark:k dies after the k-th message was accepted, before its mark;
# alert-send:k dies as the k-th delivery starts (k-1 delivered and marked)
AFTER_DELIVERY = [("alert-mark", k) for k in range(1, 25)]
BEFORE_DELIVERY = [("alert-send", k) for k in (1, 2, 15, 30)]


def send(workdir: Path, env: dict[str, str], crash_at: str | None = None) -> int:
    run_env = dict(env, NEWSWATCH_CRASH_TRACE=str(workdir / "trace.txt"))
    if crash_at:
        run_env["NEWSWATCH_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "tests.reliability.crashable", "alerts", "send"]
    command += ["--alerts", str(workdir / "alerts.toml"), "--db", str(workdir / "nw.duckdb")]
    with (workdir / "out.txt").open("ab") as out:
        return subprocess.run(
            command, env=run_env, cwd=REPO_ROOT, stdout=out, stderr=out, timeout=300
        ).returncode


def kill_and_resend(workdir: Path, env: dict[str, str], point: str, hit: int) -> Counter[str]:
    workdir.mkdir(parents=True)
    warehouse_with_alerts(workdir, pending_alerts(ALERTS))
    alerts_file(workdir / "alerts.toml")
    killed = send(workdir, env, f"{point}:{hit}:0")
    assert killed == -9, f"{point}:{hit} was not killed ({killed})"
    assert send(workdir, env) == 0, (workdir / "out.txt").read_text()
    assert all(s == ("sent", 1) for s in outbox_state(workdir / "nw.duckdb").values())
    return Counter(delivered(workdir / "alerts.jsonl"))


def test_a_kill_during_sending_repeats_at_most_the_message_in_flight(tmp_path: Path) -> None:
    env = base_env(tmp_path / "prefect", None)
    cases = AFTER_DELIVERY + BEFORE_DELIVERY
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(
            pool.map(
                lambda case: kill_and_resend(tmp_path / f"{case[0]}-{case[1]}", env, *case),
                cases,
            )
        )
    every = {a.alert_id for a in pending_alerts(ALERTS)}
    lines = []
    for (point, hit), count in zip(cases, counts, strict=True):
        repeated = sorted(a for a, n in count.items() if n > 1)
        lines.append(f"{point}#{hit}: {sum(count.values())} deliveries, repeated {repeated}")
        assert set(count) == every, f"{point}#{hit}: an alert was never delivered"
        assert max(count.values()) <= 2
        if point == "alert-mark":  # the k-th was accepted, not marked: it alone repeats
            assert repeated == [f"alert-{hit - 1:03d}"], lines[-1]
        else:  # killed before the k-th left: nothing repeats
            assert repeated == [], lines[-1]
    assert len(cases) >= 20
    print("\n" + "\n".join(lines))
