"""The warehouse a newcomer gets from ``newswatch run --sample``, for tests that read it.

The bundled offline sample (seeds/sample) is served on 127.0.0.1 and the real ingest flow
loads it with the bundled catalogue, as ``newswatch run --sample`` does; then the snapshot is
published again so it holds the alerts' deliveries too. Build it once per module (it takes
a few seconds on the session's Prefect server: ``prefect_harness``).
"""

from __future__ import annotations

from pathlib import Path

from newswatch.sample import serve_sample, write_sample_sources
from newswatch.warehouse.snapshot import publish_snapshot


def build_bundled_sample(folder: Path) -> Path:
    """Ingest the bundled sample into ``folder/newswatch.duckdb``; returns its snapshot."""
    from newswatch.flows.ingest import ingest

    db = folder / "newswatch.duckdb"
    with serve_sample(port=0) as base:
        sources = write_sample_sources(base, folder / "sample-sources.toml")
        summary = ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"])
    assert summary.new_articles > 0, "the bundled sample loaded nothing"
    return publish_snapshot(db).path
