"""Fixtures shared by every test: the ../shared folder, a clean environment, and one real
Prefect server for the whole session (in-process flow tests and every subprocess use it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The lake tests' fixtures (one PostgreSQL server, a lake per catalog), shared by two modules.
pytest_plugins = ["tests.lake_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("NEWSWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``scripts/test`` runs each suite on two workers) every worker gets
    its own PREFECT_HOME: a CLI subprocess with no PREFECT_API_URL starts Prefect's temporary
    server on that home's SQLite database, and two workers' servers must not share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        base = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
        home = base.parent / f"{base.name}-{worker}"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"../shared not found at {SHARED_DIR}; set NEWSWATCH_SHARED_DIR")
    return SHARED_DIR


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus"


# Tests that talk to the session's Prefect server; every other test runs with no
# PREFECT_API_URL, so a CLI subprocess it starts uses Prefect's temporary server as a user's
# would (and the tests that check that behaviour see it).
PREFECT_FIXTURES = frozenset({"prefect_api", "prefect_harness", "run_env"})


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """No NEWSWATCH_* or proxy variable from the developer's shell leaks into a test, nor
    the session server's PREFECT_API_URL into a test that did not ask for it."""
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_") and name != "NEWSWATCH_SHARED_DIR":
            monkeypatch.delenv(name)
        if name.lower() in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}:
            monkeypatch.delenv(name)
    if not PREFECT_FIXTURES & set(request.fixturenames):
        monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.fixture(scope="session")
def prefect_server_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session server's PREFECT_HOME (its SQLite database: logs, artifacts, states)."""
    return tmp_path_factory.mktemp("prefect-server")


@pytest.fixture(scope="session")
def prefect_api(prefect_server_home: Path) -> Iterator[str]:
    """One real ``prefect server start`` (own home, own SQLite) for the session: its API URL.
    Started by the first test that needs it; in-process flows (``prefect_harness``) and
    ``newswatch run`` subprocesses (``tests/reliability``) share it."""
    from tests.prefect_server import prefect_server

    with prefect_server(prefect_server_home) as server:
        yield server.api_url


@pytest.fixture(scope="session")
def prefect_harness(prefect_api: str) -> Iterator[None]:
    """In-process flow runs against the session's server (what ``prefect_test_harness``
    does, without a second server of its own)."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = prefect_api
    try:
        with temporary_settings({PREFECT_API_URL: prefect_api}):
            yield
            drain_prefect_workers()
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def drain_prefect_workers() -> None:
    """Flush the client's log and event workers while the server still answers (as
    ``prefect_test_harness`` does on exit); without it the session's end waits on their
    retries against a stopped server."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
