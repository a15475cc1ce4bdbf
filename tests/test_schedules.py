"""Schedules FIRE: a real Prefect server's scheduler creates the runs, nobody triggers them.

One ``prefect server start`` subprocess (own PREFECT_HOME, own SQLite, analytics off) serves
both tests. Each registers a schedule of one minute, then waits until a flow run that the
*scheduler* created (``auto_scheduled``, created by the schedule, never a manual
``deployment run``) has reached COMPLETED, and checks that it loaded the offline sample's 53
articles:

- ``newswatch serve --sample --cron "* * * * *"`` (flow.serve: no work pool, no worker);
- the ``daily-ingest`` deployment of prefect.yaml, deployed with an extra every-minute
  schedule, run by a real ``prefect worker start`` on a process work pool.

This is the test that fails when Prefect's scheduler service is broken (SQLAlchemy 2.1 with
Prefect 3.6.29: every scheduler loop raises and no run is ever created), while manual runs
and every other test still pass. It needs ~1-2 minutes per schedule.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from newswatch.commands import serve
from newswatch.sample import serve_sample, write_sample_sources
from tests import prefect_server as ps
from tests.prefect_server import NEWSWATCH, PREFECT, REPO_ROOT, PrefectServer, stop

pytestmark = pytest.mark.slow

SAMPLE_ARTICLES = 53
EVERY_MINUTE = "* * * * *"
# a cron of one minute fires at the next minute boundary (<= 60 s), the run then needs its
# own process start plus ~5-30 s of work on a busy 2-core machine
SCHEDULED_RUN_TIMEOUT = 180.0
FAILED_STATES = {"FAILED", "CRASHED"}


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with ps.prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server


def test_serve_sample_every_minute_fires_a_scheduled_run_that_loads_the_sample(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    db = tmp_path / "nw.duckdb"
    log_path = tmp_path / "serve.log"
    process = ps.start(
        [*NEWSWATCH, "serve", "--sample", "--cron", EVERY_MINUTE, "--db", str(db)],
        cwd=tmp_path,
        env=prefect_server.env,
        log_path=log_path,
    )
    try:
        deployment = ps.wait_for_deployment(
            prefect_server, f"ingest/{serve.DEPLOYMENT_NAME}", process, log_path
        )
        run = wait_for_scheduled_run(prefect_server, deployment.id, [(process, log_path)])
    finally:
        stop(process)  # before reading: DuckDB admits one process at a time
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == EVERY_MINUTE
    assert deployment.parameters["allow_private"] == ["127.0.0.1"]  # the sample's host
    assert deployment.parameters["sources"] == str(tmp_path / "sample-sources.toml")
    assert run["created_by"]["type"] == "SCHEDULE"
    assert article_count(db) == SAMPLE_ARTICLES


def test_deployment_every_minute_fires_on_a_worker_and_loads_the_sample(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    prefect_yaml = (REPO_ROOT / "prefect.yaml").read_bytes()
    db = tmp_path / "deployed.duckdb"
    prefect_server.cli("work-pool", "create", "local", "--type", "process", "--overwrite")
    prefect_server.cli("--no-prompt", "deploy", "--all")  # daily-ingest, and watch paused
    with serve_sample(port=0) as base_url:
        sources = write_sample_sources(base_url, tmp_path / "sources.toml")
        # prefect.yaml's daily-ingest as it is (pool, pull step, concurrency), with a
        # schedule of one minute and the sample's parameters
        every_minute = every_minute_prefect_yaml(
            tmp_path / "prefect.yaml",
            {"sources": str(sources), "db": str(db), "allow_private": ["127.0.0.1"]},
        )
        prefect_server.cli(
            "--no-prompt", "deploy", "--prefect-file", str(every_minute), "--name", "daily-ingest"
        )
        deployment = prefect_server.deployment("ingest/daily-ingest")
        # Prefect keeps the 06:00 schedule of `deploy --all` beside it (schedules by slug)
        assert EVERY_MINUTE in {s.schedule.cron for s in deployment.schedules if s.active}
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
        ]
        log_path = tmp_path / "worker.log"
        worker = ps.start(
            [*PREFECT, "worker", "start", "--pool", "local"],
            cwd=tmp_path,
            env=prefect_server.env,
            log_path=log_path,
        )
        try:
            # Only runs with the sample's parameters count: `deploy --all` above registered
            # this deployment with the live sources first, and one CI run executed a
            # scheduled run that still carried those parameters after the re-deploy.
            run = wait_for_scheduled_run(
                prefect_server,
                deployment.id,
                [(worker, log_path)],
                parameters={"sources": str(sources)},
            )
        finally:
            stop(worker)  # its flow-run subprocess is in the same process group
    assert run["created_by"]["type"] == "SCHEDULE"
    assert article_count(db) == SAMPLE_ARTICLES
    # the scheduler has been creating runs all along, and none for the paused `watch`
    assert prefect_server.flow_runs(prefect_server.deployment("ingest/watch").id) == []
    assert (REPO_ROOT / "prefect.yaml").read_bytes() == prefect_yaml  # deploy wrote nothing


def every_minute_prefect_yaml(out: Path, parameters: dict[str, object]) -> Path:
    """prefect.yaml with daily-ingest scheduled every minute (UTC) and these parameters."""
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    [daily] = [d for d in config["deployments"] if d["name"] == "daily-ingest"]
    daily["schedules"] = [{"cron": EVERY_MINUTE, "timezone": "UTC", "slug": "every-minute"}]
    daily["parameters"] = parameters
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def wait_for_scheduled_run(
    server: PrefectServer,
    deployment_id: object,
    processes: list[tuple[Any, Path]],
    timeout: float = SCHEDULED_RUN_TIMEOUT,
    parameters: dict[str, object] | None = None,
) -> dict[str, Any]:
    """The first run of the deployment that the scheduler created (with ``parameters``,
    when given) and that COMPLETED.

    Fails at once when the process executing runs exits or a scheduled run fails, and at
    the deadline with what the scheduler logged (a broken scheduler service shows there)."""
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        for process, log_path in processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args[2:5]} exited:\n{_tail(log_path)}")
        runs = server.flow_runs(deployment_id)
        scheduled = [
            r
            for r in runs
            if r["auto_scheduled"]
            and all(r.get("parameters", {}).get(k) == v for k, v in (parameters or {}).items())
        ]
        for run in scheduled:
            if run["state_type"] == "COMPLETED":
                return run
            if run["state_type"] in FAILED_STATES:
                message = (run.get("state") or {}).get("message")
                log = "\n".join(_tail(log_path) for _, log_path in processes)
                pytest.fail(f"scheduled run {run['name']} {run['state_type']}: {message}\n{log}")
        time.sleep(2)
    states = [(r["name"], r["auto_scheduled"], r["state_type"]) for r in runs]
    scheduler = [
        line
        for line in server.log_tail(200_000).splitlines()
        if "scheduler" in line.lower() or "Error" in line
    ]
    pytest.fail(
        f"no scheduled run completed in {timeout:g} s; runs: {states[:10]}\n"
        + "server log (scheduler / errors):\n"
        + "\n".join(scheduler[-15:])
        + "\n"
        + "\n".join(_tail(log_path) for _, log_path in processes)
    )


def article_count(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("select count(*) from articles").fetchone()
    assert row is not None
    return int(row[0])


def _tail(log_path: Path, chars: int = 2500) -> str:
    return f"--- {log_path.name}:\n" + log_path.read_text(errors="replace")[-chars:]
