"""Deployments against a real local Prefect server: ``prefect deploy --all`` from
``prefect.yaml`` and ``newswatch serve``, read back through the Prefect client.

One ``prefect server start`` subprocess (own PREFECT_HOME, own SQLite) serves the module and
is always stopped. Nothing here waits on the daily schedule itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from newswatch.commands import serve
from newswatch.core.settings import DEFAULT_SOURCES, Settings
from tests import prefect_server as ps
from tests.prefect_server import NEWSWATCH, REPO_ROOT, PrefectServer, stop

pytestmark = pytest.mark.slow

SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with ps.prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server


def test_deploy_all_registers_daily_ingest_at_0600_utc_on_the_local_pool(
    prefect_server: PrefectServer,
) -> None:
    prefect_yaml = (REPO_ROOT / "prefect.yaml").read_bytes()
    prefect_server.cli("work-pool", "create", "local", "--type", "process")
    prefect_server.cli("--no-prompt", "deploy", "--all")

    deployment = prefect_server.deployment("ingest/daily-ingest")
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 6 * * *"
    assert schedule.schedule.timezone == "UTC"
    assert schedule.active
    assert deployment.entrypoint == "flows/ingest.py:ingest"
    assert deployment.parameters == {
        "sources": "seeds/sources.toml",
        "db": "data/newswatch.duckdb",
    }
    assert deployment.work_pool_name == "local"
    assert prefect_server.work_pool_type("local") == "process"
    assert deployment.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert deployment.global_concurrency_limit.limit == 1
    # the explicit pull step starts every run in the checkout that was deployed
    assert deployment.pull_steps == [{SET_WORKING_DIRECTORY: {"directory": str(REPO_ROOT)}}]
    assert (REPO_ROOT / "prefect.yaml").read_bytes() == prefect_yaml  # deploy wrote nothing


def test_deploy_all_registers_only_what_prefect_yaml_documents_with_watch_paused(
    prefect_server: PrefectServer,
) -> None:
    prefect_server.cli("work-pool", "create", "local", "--type", "process", "--overwrite")
    prefect_server.cli("--no-prompt", "deploy", "--all")

    documented = documented_deployments()
    assert documented == {
        "ingest/daily-ingest": True,
        "ingest/watch": False,
        "maintain/daily-maintenance": True,
    }
    assert prefect_server.deployment_names() == set(documented)
    for name, active in documented.items():
        [schedule] = prefect_server.deployment(name).schedules
        assert schedule.active is active, name
    watch = prefect_server.deployment("ingest/watch")
    [schedule] = watch.schedules
    assert schedule.schedule.interval.total_seconds() == 300
    assert watch.parameters["respect_cadence"] is True
    maintenance = prefect_server.deployment("maintain/daily-maintenance")
    [schedule] = maintenance.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 3 * * *", "UTC")
    assert maintenance.entrypoint == "flows/maintenance.py:maintain"
    assert maintenance.parameters == {"db": "data/newswatch.duckdb", "keep_days": 7}
    [schedule] = watch.schedules
    # the resume command the comment gives works, and a re-deploy pauses it again
    prefect_server.cli("deployment", "schedule", "resume", "ingest/watch", str(schedule.id))
    assert prefect_server.deployment("ingest/watch").schedules[0].active
    prefect_server.cli("--no-prompt", "deploy", "--all")
    assert not prefect_server.deployment("ingest/watch").schedules[0].active


def documented_deployments() -> dict[str, bool]:
    """The deployments the head comment of prefect.yaml says `deploy --all` registers,
    each with whether its schedule is active; checked against the file's own schedules."""
    text = (REPO_ROOT / "prefect.yaml").read_text()
    head = text[: text.index("\nname:")]
    documented: dict[str, bool] = {}
    for line in head.splitlines():
        words = line.lstrip("#").split()
        if words and "/" in words[0] and words[-1] in {"(active)", "(PAUSED)"}:
            documented[words[0]] = words[-1] == "(active)"
    config = yaml.safe_load(text)
    in_file = {  # a flow is named after its function: flows/ingest.py:ingest -> ingest/...
        f"{d['entrypoint'].split(':')[-1]}/{d['name']}": all(
            s.get("active", True) for s in d["schedules"]
        )
        for d in config["deployments"]
    }
    assert documented == in_file, "prefect.yaml's head comment is out of date"
    return documented


def test_pull_step_follows_the_checkout_it_was_deployed_from(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    checkout = tmp_path / "elsewhere" / "newswatch"
    (checkout / "flows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prefect.yaml", checkout / "prefect.yaml")
    for flow_file in ("ingest.py", "maintenance.py"):  # every entrypoint of prefect.yaml
        shutil.copy(REPO_ROOT / "flows" / flow_file, checkout / "flows" / flow_file)
    prefect_server.cli("--no-prompt", "deploy", "--all", cwd=checkout)

    deployment = prefect_server.deployment("ingest/daily-ingest")
    assert deployment.pull_steps == [{SET_WORKING_DIRECTORY: {"directory": str(checkout)}}]


@pytest.mark.skipif(
    os.environ.get("NEWSWATCH_TEST_WORKER") != "1",
    reason="~40 s more: set NEWSWATCH_TEST_WORKER=1 to run the deployment on a real worker",
)
def test_worker_runs_the_deployment_from_its_checkout(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    from newswatch.sample import serve_sample, write_sample_sources

    prefect_server.cli("work-pool", "create", "local", "--type", "process", "--overwrite")
    prefect_server.cli("--no-prompt", "deploy", "--all")
    db = tmp_path / "worker.duckdb"
    with serve_sample() as base_url:
        sources = write_sample_sources(base_url, tmp_path / "sources.toml")
        prefect_server.cli(
            "deployment",
            "run",
            "ingest/daily-ingest",
            "--param",
            f"sources={sources}",
            "--param",
            f"db={db}",
            "--param",
            'allow_private=["127.0.0.1"]',
        )
        # a worker started elsewhere: the pull step takes the run into the checkout
        worker = prefect_server.cli(
            "worker", "start", "--pool", "local", "--run-once", cwd=tmp_path
        )
    assert "set_working_directory" in worker.stdout + worker.stderr
    from newswatch.warehouse.queries import feed_states

    assert feed_states(db)  # the run loaded its polls into the database it was given


def test_serve_registers_the_daily_schedule_and_stops_on_interrupt(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    sources, db = tmp_path / "sources.toml", tmp_path / "served.duckdb"
    sources.write_text("")  # checked before Prefect starts: an empty list is valid
    log_path = tmp_path / "serve.log"
    process = ps.start(
        [*NEWSWATCH, "serve", "--sources", str(sources), "--db", str(db)],
        cwd=tmp_path,
        env=prefect_server.env,
        log_path=log_path,
    )
    try:
        deployment = ps.wait_for_deployment(
            prefect_server, f"ingest/{serve.DEPLOYMENT_NAME}", process, log_path
        )
    finally:
        stop(process)
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 6 * * *"
    assert schedule.schedule.timezone == "UTC"
    assert deployment.parameters == {"sources": str(sources), "db": str(db)}
    assert deployment.global_concurrency_limit.limit == 1
    assert process.returncode is not None


def test_serve_passes_its_options_to_every_scheduled_run(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    sources, alerts, db = tmp_path / "s.toml", tmp_path / "alerts.toml", tmp_path / "x.duckdb"
    sources.write_text("")
    shutil.copy(REPO_ROOT / "seeds" / "alerts.toml", alerts)
    log_path = tmp_path / "serve.log"
    args = ["--sources", str(sources), "--db", str(db), "--alerts", str(alerts)]
    args += ["--allow-private", "10.1.2.3", "--alerts-to", f"file://{tmp_path / 'a.jsonl'}"]
    process = ps.start(
        [*NEWSWATCH, "serve", *args], cwd=tmp_path, env=prefect_server.env, log_path=log_path
    )
    try:
        deployment = ps.wait_for_deployment(
            prefect_server, f"ingest/{serve.DEPLOYMENT_NAME}", process, log_path
        )
    finally:
        stop(process)
    assert deployment.parameters == {
        "sources": str(sources),
        "db": str(db),
        "alerts": str(alerts),
        "allow_private": ["10.1.2.3"],
        "alerts_to": [f"file://{tmp_path / 'a.jsonl'}"],
    }


def test_serve_uses_the_schedule_and_parameters_of_prefect_yaml() -> None:
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    [deployment] = [d for d in config["deployments"] if d["name"] == "daily-ingest"]
    [schedule] = deployment["schedules"]
    assert schedule == {
        "cron": serve.DEFAULT_CRON,
        "timezone": serve.TIMEZONE,
        "slug": serve.SCHEDULE_SLUG,
    }
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    defaults = serve.serve_parameters(argparse.Namespace(sources=None, db=None))
    assert Path(defaults["sources"]) == DEFAULT_SOURCES.resolve()
    assert REPO_ROOT / deployment["parameters"]["sources"] == DEFAULT_SOURCES
    assert Path(deployment["parameters"]["db"]) == Settings().db_path
    assert Path(defaults["db"]) == Settings().db_path.resolve()


def test_serve_help_names_its_options() -> None:
    result = subprocess.run(
        [*NEWSWATCH, "serve", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for option in ("--cron", "--sample", "--sources", "--allow-private", "--db", "--alerts-to"):
        assert option in result.stdout
