"""LSH band keys in the warehouse: written at load for new articles only, read back as the
story candidates of a batch (only the stored articles sharing a band), and the same
candidates from a file without the band table (keys computed from the signatures)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from newswatch.core.records import IngestBatch
from newswatch.extractors.dedup import (
    BANDS,
    StoryIndex,
    band_key_matrix,
    band_keys,
    signature,
)
from newswatch.warehouse import queries
from newswatch.warehouse.load import load_staged, stage_batch
from newswatch.warehouse.sample import sample_batches

TEXTS = [
    "Drones struck the power grid near Kyiv overnight, officials said, and repair crews "
    "worked through the morning to restore electricity to the eastern districts.",
    "The parliament approved the budget after a long debate about defence spending and the "
    "pensions of former soldiers, with the opposition voting against.",
    "A cargo ship was hit in the Red Sea by a missile fired from Yemen, the shipping "
    "company said, and its crew was evacuated by a passing vessel.",
]


@pytest.fixture
def batch() -> IngestBatch:
    base = sample_batches(days=7, per_day=1)[0]
    articles = tuple(
        replace(article, story_signature=signature(TEXTS[i % len(TEXTS)] + f" item {i}"))
        for i, article in enumerate(base.articles)
    )
    return replace(base, articles=articles)


def _load(db: Path, staging: Path, batch: IngestBatch) -> None:
    stage_batch(batch, staging)
    load_staged(db, staging)


def _band_rows(db: Path) -> list[tuple[int, int, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT band, key, article_id FROM story_bands ORDER BY ALL").fetchall()


def test_loading_writes_every_band_of_each_new_article_once(
    tmp_path: Path, batch: IngestBatch
) -> None:
    db, staging = tmp_path / "w.duckdb", tmp_path / "staging"
    _load(db, staging, batch)
    _load(db, staging, replace(batch, run=replace(batch.run, run_id="again")))  # replayed

    expected = sorted(
        (band, key, article.article_id)
        for article in batch.articles
        for band, key in enumerate(band_keys(article.story_signature))
    )
    assert len(expected) == BANDS * len(batch.articles)
    assert _band_rows(db) == expected


def test_candidates_are_the_stored_articles_sharing_a_band(
    tmp_path: Path, batch: IngestBatch
) -> None:
    db, staging = tmp_path / "w.duckdb", tmp_path / "staging"
    _load(db, staging, batch)
    since = min(a.first_seen_at for a in batch.articles) - timedelta(seconds=1)
    copy = signature("Reported: " + TEXTS[0] + " item 0")  # a rewrite of the first text
    unrelated = signature("An entirely different report about football results in Spain.")

    candidates = queries.story_candidates(db, [copy, unrelated], since)

    every = queries.story_signatures(db, since)
    sharing = [
        row for row in every if set(enumerate(band_keys(row[2]))) & set(enumerate(band_keys(copy)))
    ]
    assert candidates == sharing  # same rows, same order as the full load
    assert batch.articles[0].article_id in {row[0] for row in candidates}
    assert len(candidates) < len(every)
    index = StoryIndex()
    for article_id, story_id, sig in candidates:
        index.add(article_id, story_id, sig)
    assert index.match(copy) == batch.articles[0].story_id
    assert queries.story_candidates(db, [unrelated], since) == []
    # signatures without bands (no words, another length) are skipped, not an error
    assert queries.story_candidates(db, [(), copy[:10], copy], since) == candidates
    assert queries.story_candidates(db, [(), copy[:10]], since) == []
    later = max(a.first_seen_at for a in batch.articles) + timedelta(seconds=1)
    assert queries.story_candidates(db, [copy], later) == []  # outside the story window


def test_a_file_without_the_band_table_gives_the_same_candidates(
    tmp_path: Path, batch: IngestBatch
) -> None:
    db, staging = tmp_path / "w.duckdb", tmp_path / "staging"
    _load(db, staging, batch)
    since = min(a.first_seen_at for a in batch.articles) - timedelta(seconds=1)
    probes = [a.story_signature for a in batch.articles[:3]]
    stored = queries.story_candidates(db, probes, since)
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE story_bands")
    assert queries.story_candidates(db, probes, since) == stored
    assert {row[0] for row in stored} >= {a.article_id for a in batch.articles[:3]}


def test_the_probe_keys_computed_in_bulk_are_band_keys() -> None:
    sigs = [signature(text) for text in TEXTS]
    assert band_key_matrix(np.asarray(sigs, dtype=np.uint64)).tolist() == [
        band_keys(sig) for sig in sigs
    ]
    top = tuple([2**32 - 1] * 64)  # the largest 32-bit values do not overflow the shift
    assert band_key_matrix(np.asarray([top], dtype=np.uint64)).tolist() == [band_keys(top)]
