"""A real ``prefect server start`` subprocess for deployment and schedule tests.

Own PREFECT_HOME (own SQLite), a free port, analytics and UI off; always stopped. The
caller's PREFECT_* settings never leak into the server or into the processes started
against it (``PrefectServer.env``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT = (str(Path(sys.executable)), "-m", "prefect")
NEWSWATCH = (str(Path(sys.executable)), "-m", "newswatch.cli")
SERVER_START_TIMEOUT = 150.0


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]
    log_path: Path

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

    def deployment_names(self) -> set[str]:
        deployments = self.post("/deployments/filter", {})
        flows = {flow["id"]: flow["name"] for flow in self.post("/flows/filter", {})}
        return {f"{flows[d['flow_id']]}/{d['name']}" for d in deployments}

    def work_pool_type(self, name: str) -> str:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with (
            temporary_settings({PREFECT_API_URL: self.api_url}),
            get_client(sync_client=True) as client,
        ):
            return client.read_work_pool(name).type

    def flow_runs(self, deployment_id: object) -> list[dict[str, Any]]:
        """Every flow run of a deployment, as the REST API returns them (plain JSON)."""
        runs = self.post(
            "/flow_runs/filter",
            {"flow_runs": {"deployment_id": {"any_": [str(deployment_id)]}}, "limit": 200},
        )
        assert isinstance(runs, list)
        return runs

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


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


def start(
    args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path = REPO_ROOT
) -> subprocess.Popen[bytes]:
    """A subprocess in its own process group (``stop`` reaches its children), output to a
    log file."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextmanager
def prefect_server(home: Path) -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port until the block ends; waits for /api/health."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = home / "server.log"
    process = start(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=prefect_env(home),
        log_path=log_path,
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
        yield PrefectServer(api_url, prefect_env(home, api_url), log_path)
    finally:
        stop(process)


SERVING_MESSAGE = "is being served and polling for scheduled runs"


def wait_for_deployment(
    server: PrefectServer,
    name: str,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = 90.0,
) -> Any:
    """The deployment ``name`` once ``newswatch serve`` (``process``) has registered it and
    its runner polls (so an interrupt from now on shuts it down cleanly)."""
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"newswatch serve exited:\n{log_path.read_text()[-3000:]}")
        if SERVING_MESSAGE in log_path.read_text(errors="replace"):
            try:
                return server.deployment(name)
            except ObjectNotFound:
                pass
        time.sleep(0.5)
    pytest.fail(f"no served deployment after {timeout:g} s:\n{log_path.read_text()[-3000:]}")
