"""Fixtures of the lake tests (test_lake.py, test_lake_load.py): one real PostgreSQL server
for the session, and a lake per test on each catalog (SQLite embedded, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.warehouse.lake import LakeConfig
from tests import pg_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg_server.PgServer]:
    bindir, why_not = pg_server.find_bindir()
    if bindir is None:
        pytest.skip(why_not)
    _prefix, _uid, why_not = pg_server.run_as_prefix()
    if why_not:
        pytest.skip(why_not)
    with pg_server.postgres_server(bindir) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> LakeConfig:
    if request.param == "sqlite":
        return LakeConfig.embedded(tmp_path / "home")
    server: pg_server.PgServer = request.getfixturevalue("postgres")
    catalog = server.create_database(f"lake_{uuid.uuid4().hex[:12]}")
    return LakeConfig("postgres", catalog, str(tmp_path / "data") + "/")
