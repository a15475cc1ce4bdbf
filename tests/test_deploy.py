"""Deployments against a real local Prefect server: ``prefect deploy --all`` from
``prefect.yaml`` and ``newswatch serve``, read back through the Prefect client.

One ``prefect server start`` subprocess (own PREFECT_HOME, own SQLite) serves the module and
is always stopped. Nothing here waits on the daily schedule itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from newswatch.commands import serve
from newswatch.settings import DEFAULT_SOURCES, Settings

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT = (str(Path(sys.executable)), "-m", "prefect")
NEWSWATCH = (str(Path(sys.executable)), "-m", "newswatch.cli")
SERVER_START_TIMEOUT = 150.0
SET_WORKING_DIRECTORY = "prefect.deployments.steps.set_working_directory"
SERVING_MESSAGE = "is being served and polling for scheduled runs"


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]

    def cli(self, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*PREFECT, *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result

    def deployment(self, name: str) -> Any:
        """The deployment ``flow/deployment`` as the Prefect client reads it."""
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            return client.read_deployment_by_name(name)

    def work_pool_type(self, name: str) -> str:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            return client.read_work_pool(name).type


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """The caller's environment minus every PREFECT_* setting, plus our own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    # the checkout importable from any cwd, installed (`pip install -e .`) or not
    python_path = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        PYTHONPATH=os.pathsep.join(python_path),
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_CLI_PROMPT="false",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGINT to the process group (what Ctrl-C sends), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=prefect_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"prefect server exited early:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy in {SERVER_START_TIMEOUT:g} s")
            time.sleep(0.5)
        yield PrefectServer(api_url, prefect_env(home, api_url))
    finally:
        stop(process)


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


def test_pull_step_follows_the_checkout_it_was_deployed_from(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    checkout = tmp_path / "elsewhere" / "newswatch"
    (checkout / "flows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prefect.yaml", checkout / "prefect.yaml")
    shutil.copy(REPO_ROOT / "flows" / "ingest.py", checkout / "flows" / "ingest.py")
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
    from warehouse.queries import feed_states

    assert feed_states(db)  # the run loaded its polls into the database it was given


def test_serve_registers_the_daily_schedule_and_stops_on_interrupt(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    sources, db = tmp_path / "sources.toml", tmp_path / "served.duckdb"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*NEWSWATCH, "serve", "--sources", str(sources), "--db", str(db)],
            cwd=tmp_path,
            env=prefect_server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deployment = _wait_for_deployment(prefect_server, process, log_path)
    finally:
        stop(process)
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 6 * * *"
    assert schedule.schedule.timezone == "UTC"
    assert deployment.parameters == {"sources": str(sources), "db": str(db)}
    assert deployment.global_concurrency_limit.limit == 1
    assert process.returncode is not None


def _wait_for_deployment(
    server: PrefectServer, process: subprocess.Popen[bytes], log_path: Path
) -> Any:
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"newswatch serve exited:\n{log_path.read_text()[-3000:]}")
        # registered, and the runner is polling (so an interrupt now shuts it down cleanly)
        if SERVING_MESSAGE in log_path.read_text(errors="replace"):
            try:
                return server.deployment(f"ingest/{serve.DEPLOYMENT_NAME}")
            except ObjectNotFound:
                pass
        time.sleep(0.5)
    pytest.fail(f"no served deployment after 90 s:\n{log_path.read_text()[-3000:]}")


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
    for option in ("--cron", "--sources", "--db"):
        assert option in result.stdout
