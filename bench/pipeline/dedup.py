"""Story dedup: LSH-banded ``StoryIndex`` against the old scan of every stored signature.

    .venv/bin/python -m bench.pipeline.dedup [--stored 300000] [--probes 1000] [--load-repeats 5]

1. Same story assignments: ``bench/extract``'s dedup set (our extraction and readability's
   of the corpus pages, plus wire/trimmed/edited copies) grouped by both indexes.
2. Time per article with ``--stored`` signatures already in the index: stored articles are
   made of random corpus sentences (their MinHash is the element-wise minimum of their
   sentences' signatures, plus unique shingles), so unrelated articles share common
   phrases as real ones do; the probes are the dedup set's texts.
3. The run's load: the old query for every signature of the window (plus building the
   index) against the candidate query (articles sharing a band with the batch) on a DuckDB
   warehouse holding ``--stored`` articles (the candidate load is timed ``--load-repeats``
   times, each on a connection of its own as a run opens it; the median is the figure).
All in one run; the machine is shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import re
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.extract.corpus import Page, aeb_pages, fundus_pages
from bench.extract.dedupset import Copy, build_set, pair_scores
from newswatch.core.records import PageFetch
from newswatch.extractors.dedup import NUM_PERM, STORY_THRESHOLD, StoryIndex, band_keys, signature
from newswatch.extractors.pages import decode_html, readability_text
from newswatch.extractors.pool import extract_many
from newswatch.warehouse import queries
from newswatch.warehouse.db import connect
from newswatch.warehouse.migrations import MIGRATIONS

FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
SHARED_SENTENCES = 8
UNIQUE_SHINGLES = 300


class ScanIndex(StoryIndex):
    """The index before LSH: every stored signature compared in one numpy pass."""

    def match(self, signature: tuple[int, ...]) -> str | None:
        rows = len(self._row_story)
        if rows == 0 or len(signature) != NUM_PERM:
            return None
        probe = np.asarray(signature, dtype=np.uint32)
        scores = (self._matrix[:rows] == probe).mean(axis=1)
        best = int(np.argmax(scores))
        return self._row_story[best] if scores[best] >= self.threshold else None


def dedup_set(pages: Sequence[Page]) -> list[Copy]:
    import trafilatura

    ours = extract_many(
        [(PageFetch(p.url, FETCHED_AT, "ok", body=p.body, content_type="text/html"), None)
         for p in pages],
        2,
    )  # fmt: skip
    readability = []
    for page in pages:
        tree = trafilatura.utils.load_html(decode_html(page.body))
        readability.append(readability_text(tree, None) if tree is not None else "")
    bases = [
        (p.key, f"{p.outlet}: {' '.join((p.truth_title or '').split())}" if p.truth_title
         else p.key, p.outlet, a.text, r)
        for p, a, r in zip(pages, ours, readability, strict=True)
    ]  # fmt: skip
    return build_set(bases)


def background(pages: Sequence[Page], count: int, seed: int = 3) -> np.ndarray:
    """``count`` signatures of unrelated articles: each is ``SHARED_SENTENCES`` random corpus
    sentences plus ``UNIQUE_SHINGLES`` shingles of its own (the MinHash of a union is the
    element-wise minimum). Calibrated so that two of them share an LSH band about as often
    as two different corpus articles do (section 2 prints both rates)."""
    sentences = sorted(
        {s.strip() for p in pages for s in _SENTENCE.split(p.truth_text) if len(s.split()) >= 4}
    )
    pool = np.array([signature(s) for s in sentences], dtype=np.uint32)
    rng = np.random.default_rng(seed)
    out = np.empty((count, NUM_PERM), dtype=np.uint32)
    for start in range(0, count, 10_000):
        size = min(10_000, count - start)
        picked = pool[rng.integers(0, len(pool), (size, SHARED_SENTENCES))].min(axis=1)
        # the minimum of n uniform hash values, drawn directly
        unique = (1 - rng.random((size, NUM_PERM)) ** (1 / UNIQUE_SHINGLES)) * 2**32
        out[start : start + size] = np.minimum(picked, unique.astype(np.uint32))
    return out


def corpus_band_rate(pages: Sequence[Page]) -> float:
    """How often two different corpus articles (80+ words, other titles) share a band."""
    texts = [p for p in pages if len(p.truth_text.split()) >= 80]
    keys = [set(enumerate(band_keys(signature(p.truth_text)))) for p in texts]
    pairs = hits = 0
    for i, j in combinations(range(len(texts)), 2):
        if texts[i].truth_title and texts[i].truth_title == texts[j].truth_title:
            continue
        pairs += 1
        hits += bool(keys[i] & keys[j])
    return hits / pairs


def filled(index: StoryIndex, stored: np.ndarray) -> StoryIndex:
    for row, values in enumerate(stored.tolist()):
        index.add(f"bg{row}", f"bg{row}", tuple(values))
    return index


def per_article_ms(
    index: StoryIndex, copies: Sequence[Copy], sigs: dict[str, tuple[int, ...]]
) -> tuple[float, list[str]]:
    started = time.perf_counter()
    labels = [index.assign(c.key, sigs[c.key]) for c in copies]
    return (time.perf_counter() - started) * 1000 / len(copies), labels


def warehouse(stored: np.ndarray, path: Path) -> None:
    now = datetime.now(UTC)
    with connect(path) as con:  # a writer: the migrations make the real schema
        ids = [f"bg{i}" for i in range(len(stored))]
        table = pa.table(
            {
                "article_id": ids,
                "sig": pa.array(stored.astype(np.uint64).tolist(), type=pa.list_(pa.uint64())),
            }
        )
        con.register("bg", table)
        con.execute(
            """
            INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, text,
                                  first_seen_at, published_day, status, story_id,
                                  story_signature)
            SELECT article_id, 'src', 'outlet', 'https://example.org/' || article_id,
                   'https://example.org/' || article_id, 'text',
                   $now - INTERVAL 1 SECOND * (row_number() OVER ()),
                   CAST($now AS DATE), 'ok', article_id, sig
            FROM bg
            """,
            {"now": now},
        )
        # the band keys, by the statement migration 11 fills an existing file with
        (backfill,) = [m.statements[1] for m in MIGRATIONS if m.name == "story_bands"]
        con.execute(backfill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=300_000)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--scan-probes", type=int, default=200, help="probes timed on the scan")
    parser.add_argument(
        "--load-repeats", type=int, default=5, help="candidate loads timed (the median is shown)"
    )
    args = parser.parse_args()
    pages = [*aeb_pages(), *fundus_pages()]
    copies = dedup_set(pages)
    sigs = {c.key: signature(c.text) for c in copies}
    stories = len({c.story for c in copies})
    print(
        f"# bench/pipeline/dedup - reproduce: python -m bench.pipeline.dedup --stored {args.stored}"
    )
    print(f"\n## 1. Same assignments: {len(copies)} texts, {stories} stories")
    for threshold in (0.3, STORY_THRESHOLD, 0.5):
        _, old = per_article_ms(ScanIndex(threshold), copies, sigs)
        _, new = per_article_ms(StoryIndex(threshold), copies, sigs)
        differ = sum(a != b for a, b in zip(old, new, strict=True))
        p_old, r_old, _ = pair_scores(copies, old)
        p_new, r_new, _ = pair_scores(copies, new)
        print(f"threshold {threshold}: {differ} assignments differ; precision/recall "
              f"scan {p_old:.4f}/{r_old:.4f}, LSH {p_new:.4f}/{r_new:.4f}")  # fmt: skip

    probes = (copies * (args.probes // len(copies) + 1))[: args.probes]
    probes = [Copy(f"{c.key}@{i}", c.story, c.outlet, c.text) for i, c in enumerate(probes)]
    sigs |= {c.key: sigs[c.key.rsplit("@", 1)[0]] for c in probes}
    stored = background(pages, args.stored)
    print(f"\n## 2. Time per article with {args.stored} stored signatures in the index")
    started = time.perf_counter()
    lsh = filled(StoryIndex(), stored)
    lsh.candidates(tuple(stored[0].tolist()))  # the first lookup sorts the bulk of the keys
    lsh_build = time.perf_counter() - started
    rss_lsh = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scan = filled(ScanIndex(), stored)
    lsh_ms, lsh_labels = per_article_ms(lsh, probes, sigs)
    scan_ms, scan_labels = per_article_ms(scan, probes[: args.scan_probes], sigs)
    same = lsh_labels[: args.scan_probes] == scan_labels
    background_rate = lsh.candidates_scored / len(probes) / args.stored
    print(
        f"band sharing between unrelated articles: corpus {corpus_band_rate(pages):.1e}; "
        f"probes vs stored (their own earlier copies included) {background_rate:.1e}"
    )
    print(f"LSH  {lsh_ms:.3f} ms/article over {len(probes)} probes "
          f"({lsh.candidates_scored / len(probes):.1f} candidates scored per article; "
          f"index built in {lsh_build:.1f} s; peak RSS so far {rss_lsh:.0f} MiB)")  # fmt: skip
    print(f"scan {scan_ms:.3f} ms/article over {args.scan_probes} probes")
    print(f"ratio scan/LSH: {scan_ms / lsh_ms:.1f}x; same labels on the scanned probes: {same}")
    del lsh, scan

    print(f"\n## 3. The run's load: {args.stored} stored articles, a batch of {len(probes)}")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.duckdb"
        warehouse(stored, db)
        since = datetime.now(UTC) - timedelta(days=30)
        batch = [sigs[c.key] for c in probes]
        started = time.perf_counter()
        rows = queries.story_signatures(db, since)
        old_index = ScanIndex()
        for article, story, sig in rows:
            old_index.add(article, story, sig)
        old_load = time.perf_counter() - started
        loads = []  # each a run's: its own connection, then the index the judge stage builds
        for _ in range(args.load_repeats):
            started = time.perf_counter()
            candidates = queries.story_candidates(db, batch, since)
            new_index = StoryIndex()
            for article, story, sig in candidates:
                new_index.add(article, story, sig)
            new_index.candidates(batch[0])  # builds its sorted tier
            loads.append(time.perf_counter() - started)
        new_load = float(np.median(loads))
        with connect(db, read_only=True) as con:
            stored_rows = con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    print(f"old: {len(rows)} signatures loaded + indexed in {old_load:.2f} s "
          f"({old_load * 1000 / len(probes):.2f} ms per article of the batch)")  # fmt: skip
    print(f"new: {len(candidates)} candidates loaded + indexed in {new_load:.2f} s, median of "
          f"{len(loads)} (each: {' '.join(f'{t:.2f}' for t in loads)}) "
          f"({new_load * 1000 / len(probes):.2f} ms per article of the batch); ratio "
          f"{old_load / new_load:.1f}x; rows in the file {stored_rows}")  # fmt: skip
    print(f"whole per article, new: {lsh_ms + new_load * 1000 / len(probes):.3f} ms; "
          f"old: {scan_ms + old_load * 1000 / len(probes):.3f} ms")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
