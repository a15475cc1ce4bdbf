"""Case 52 (secrets never stored or printed) and case 42 (two runs at once) end to end."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.conftest import CleanRun
from tests.reliability.harness import alert_deliveries, fingerprint, free_port, run_ingest

pytestmark = pytest.mark.slow

TOKEN = "tok-SEKRIT-4f1c"
SIGNING_KEY = "sign-SEKRIT-9a2e"
PASSWORD = "pw-SEKRIT-77d0"


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_channel_secrets_reach_no_file_log_or_output(
    run_env: dict[str, str],
    sites_sources: Path,
    prefect_server_home: Path,
    tmp_path: Path,
) -> None:
    dead = free_port()
    env = dict(
        run_env,
        NEWSWATCH_WEBHOOK_URL=f"http://127.0.0.1:{dead}/hooks/newswatch?token={TOKEN}",
        NEWSWATCH_WEBHOOK_SECRET="whsec_" + base64.b64encode(SIGNING_KEY.encode()).decode(),
        NEWSWATCH_EMAIL_URL=f"mailtos://alerts:{PASSWORD}@127.0.0.1:{dead}?to=ops@example.org",
    )
    workdir = tmp_path / "secrets"
    result = run_ingest(workdir, sites_sources, env)
    assert result.returncode == 0, result.stderr
    assert "team-webhook" in result.stdout  # the failed channel is reported ...
    for secret in (TOKEN, SIGNING_KEY, PASSWORD):
        assert secret not in result.stdout + result.stderr  # ... without its secret
        assert files_holding(workdir, secret.encode()) == []  # DB, WAL, snapshot, staging
        assert files_holding(prefect_server_home, secret.encode()) == []  # logs, artifacts


def test_a_second_run_on_the_same_data_is_refused_and_nothing_doubles(
    run_env: dict[str, str], sites_sources: Path, clean_run: CleanRun, tmp_path: Path
) -> None:
    workdir = tmp_path / "overlap"
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(
            pool.map(lambda n: run_ingest(workdir, sites_sources, run_env, tag=f"-{n}"), range(2))
        )
    codes = sorted(r.returncode for r in runs)
    assert codes == [0, 75], [r.stderr[-800:] for r in runs]
    refused = next(r for r in runs if r.returncode == 75)
    assert "is being written by newswatch run (PID" in refused.stderr
    assert "this newswatch run did nothing" in refused.stderr
    final = run_ingest(workdir, sites_sources, run_env)
    assert final.returncode == 0, final.stderr
    stored = fingerprint(workdir / "news.duckdb")
    assert stored.hashes == clean_run.fingerprint.hashes, codes
    deliveries = alert_deliveries(workdir / "alerts.jsonl")
    assert set(deliveries) == clean_run.alert_ids
    repeated = sorted(k for k, n in deliveries.items() if n > 1)
    assert repeated == [], f"{len(repeated)} alerts delivered twice by overlapping runs"
