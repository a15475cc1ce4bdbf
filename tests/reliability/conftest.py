"""Fixtures of the reliability campaign: the session's Prefect server (tests/conftest.py),
the sample and corpus sites."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from newswatch.sample import serve_sample
from tests.reliability.harness import (
    Fingerprint,
    RunResult,
    alert_deliveries,
    base_env,
    corpus_site,
    fingerprint,
    run_ingest,
    write_sources,
)


@pytest.fixture(scope="session")
def run_env(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for ingest subprocesses: own Prefect home, the shared server."""
    return base_env(tmp_path_factory.mktemp("prefect-client"), prefect_api)


@pytest.fixture(scope="session")
def sites_sources(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sources file over the offline sample plus real corpus pages, all on 127.0.0.1."""
    with serve_sample(port=0) as sample_base, corpus_site(corpus_dir) as corpus_base:
        yield write_sources(
            tmp_path_factory.mktemp("sources") / "sources.toml", sample_base, corpus_base
        )


@dataclass(frozen=True)
class CleanRun:
    """What an uninterrupted run over ``sites_sources`` stores and delivers."""

    result: RunResult
    fingerprint: Fingerprint
    alert_ids: frozenset[str]


@pytest.fixture(scope="session")
def clean_run(
    run_env: dict[str, str], sites_sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> CleanRun:
    workdir = tmp_path_factory.mktemp("clean")
    result = run_ingest(workdir, sites_sources, run_env)
    assert result.returncode == 0, result.stderr
    return CleanRun(
        result,
        fingerprint(workdir / "news.duckdb"),
        frozenset(alert_deliveries(workdir / "alerts.jsonl")),
    )
