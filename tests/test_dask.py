"""Extraction on a Dask LocalCluster (prefect-dask) equals in-process extraction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import flow

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.core.settings import SAMPLE_DIR, Settings
from newswatch.extractors.sitemaps import feed_entries, parse_sitemap
from newswatch.flows import stages
from newswatch.flows.backfill import CHUNK_PAGES, extract_on_runner
from newswatch.sample import serve_sample


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[PageFetch], list[FeedEntry]]:
    """Every sample page fetched once (53 pages: three chunks)."""
    settings = Settings(allow_private=("127.0.0.1",), data_dir=tmp_path_factory.mktemp("data"))
    with serve_sample(port=0) as base_url:
        entries = []
        for path in sorted((SAMPLE_DIR / "site").glob("*/sitemap.xml")):
            body = path.read_bytes().replace(b"{{BASE}}", base_url.encode())
            listed = parse_sitemap(body, base_url).pages
            entries += feed_entries(listed, path.parent.name, datetime.now(UTC))
        pages = stages.fetch(entries, settings)
    assert all(p.status == "ok" for p in pages)
    return pages, entries


def test_dask_local_cluster_extraction_equals_in_process(
    prefect_harness: None, fetched: tuple[list[PageFetch], list[FeedEntry]], tmp_path: Path
) -> None:
    from prefect_dask import DaskTaskRunner

    pages, entries = fetched
    assert len(pages) > 2 * CHUNK_PAGES  # several chunks, so order across tasks matters
    settings = Settings(data_dir=tmp_path, extract_workers=1)
    runner = DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )

    @flow(task_runner=runner)
    def on_dask() -> list[ExtractedArticle]:  # page bodies stay out of flow parameters
        return extract_on_runner(pages, entries, settings)

    in_process = stages.extract(pages, entries, settings)
    on_cluster = on_dask()
    assert on_cluster == in_process
    assert sum(a.status == "ok" for a in on_cluster) == len(pages)
