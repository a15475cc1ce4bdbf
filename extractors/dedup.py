"""Near-duplicate stories: MinHash signatures over word shingles and a story index.

Syndicated copies and light rewrites of one story (other boilerplate, a dateline, a dropped
paragraph, a few changed words) share a story id; different articles of one outlet do not.
``STORY_THRESHOLD`` and ``SHINGLE_WORDS`` were chosen by measurement (``python
bench/extract/run.py``, dedup section; figures in bench/extract/README.md).

Signatures are ``NUM_PERM`` unsigned 32-bit integers (datasketch's affine32 scheme), so
they fit a DuckDB ``BIGINT[]`` / ``UINTEGER[]``. The index finds candidates by LSH banding
(``BANDS`` bands of ``NUM_PERM // BANDS`` values: two signatures are candidates when one
band is equal in both) and scores only those, with the exact MinHash estimate: the time per
article does not grow with the stored articles. A pair at the threshold (0.4) shares a band
with probability 1 - (1 - 0.4²)³² = 0.996, at 0.5 with 0.9999; the story grouping of
``bench/extract``'s dedup set is the same as with a scan of every stored signature
(``bench/pipeline/dedup.py`` compares both). ``band_keys`` is what the warehouse query
for candidates (``warehouse/queries.py: story_candidates``) computes in SQL too.
"""

from __future__ import annotations

import re

import numpy as np
from datasketch import MinHash

NUM_PERM = 64
SHINGLE_WORDS = 3
STORY_THRESHOLD = 0.4  # middle of the plateau 0.3-0.5 (precision 1.0, recall 0.99)
SEED = 1
SCHEME = "affine32"
BANDS = 32
ROWS_PER_BAND = NUM_PERM // BANDS

_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Case-folded word ``size``-grams; a text shorter than ``size`` words is one shingle."""
    words = _WORD.findall(text.casefold())
    if not words:
        return set()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def signature(text: str, *, shingle_words: int = SHINGLE_WORDS) -> tuple[int, ...]:
    """The MinHash signature of a text (``NUM_PERM`` ints); ``()`` for a text with no words."""
    grams = shingles(text, shingle_words)
    if not grams:
        return ()
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    minhash.update_batch([gram.encode("utf-8") for gram in grams])
    return tuple(int(value) for value in minhash.hashvalues)


def similarity(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of two signatures (0.0 when either is empty)."""
    if not first or len(first) != len(second):
        return 0.0
    return float(np.mean(np.asarray(first) == np.asarray(second)))


def band_keys(signature: tuple[int, ...]) -> list[int]:
    """One key per band: the band's two 32-bit values as one 64-bit integer (``BANDS``
    keys; ``[]`` for a signature that is not ``NUM_PERM`` long)."""
    if len(signature) != NUM_PERM:
        return []
    return [(signature[i] << 32) | signature[i + 1] for i in range(0, NUM_PERM, ROWS_PER_BAND)]


def band_key_matrix(signatures: np.ndarray) -> np.ndarray:
    """``band_keys`` of each row of a (rows, NUM_PERM) matrix of 32-bit values, as a
    (rows, BANDS) uint64 matrix."""
    wide = signatures.astype(np.uint64)
    return (wide[:, 0::2] << np.uint64(32)) | wide[:, 1::2]


class StoryIndex:
    """Articles grouped into stories by signature similarity (first article = story id).

    Band keys live in two tiers: a sorted array (built in bulk with numpy, searched with
    ``searchsorted``) and, for rows added since it was built, a dict per band. Rows added
    in bulk (the stored candidates a run loads) go to the array when their number passes
    an eighth of it, so rebuilding costs O(log n) per row, amortised."""

    def __init__(self, threshold: float = STORY_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._story_of: dict[str, str] = {}
        self._row_story: list[str] = []
        self._matrix = np.empty((64, NUM_PERM), dtype=np.uint32)
        self._sorted_keys = np.empty(0, dtype=np.uint64)  # band keys of rows < _sorted_rows
        self._sorted_at = np.empty(0, dtype=np.int64)  # row * BANDS + band, same order
        self._sorted_rows = 0
        self._bucketed_rows = 0  # rows below this are in the array or the dicts
        # per band: band key -> the rows holding it (an int for one row, else a list)
        self._buckets: list[dict[int, int | list[int]]] = [{} for _ in range(BANDS)]
        self.candidates_scored = 0  # rows compared so far (what the banding saves)

    def __len__(self) -> int:
        return len(self._story_of)

    def story_of(self, article_id: str) -> str | None:
        return self._story_of.get(article_id)

    def add(self, article_id: str, story_id: str, signature: tuple[int, ...]) -> None:
        """Remember an article already assigned to a story (e.g. loaded from the warehouse)."""
        if article_id in self._story_of:
            return
        self._story_of[article_id] = story_id
        if len(signature) != NUM_PERM:
            return  # no words, or a signature of another size: never matched
        rows = len(self._row_story)
        if rows == len(self._matrix):
            grown = np.empty((2 * rows, NUM_PERM), dtype=np.uint32)
            grown[:rows] = self._matrix
            self._matrix = grown
        self._matrix[rows] = signature  # numpy converts the tuple (no array per row)
        self._row_story.append(story_id)

    def _index_new_rows(self) -> None:
        rows = len(self._row_story)
        if rows == self._bucketed_rows:
            return
        if rows - self._sorted_rows > max(512, self._sorted_rows // 8):
            keys = band_key_matrix(self._matrix[:rows]).ravel()
            # not a stable sort (2x faster): candidates() collects a set, in row order
            order = np.argsort(keys)
            self._sorted_keys, self._sorted_at = keys[order], order.astype(np.int64)
            self._sorted_rows = self._bucketed_rows = rows
            self._buckets = [{} for _ in range(BANDS)]
            return
        new = band_key_matrix(self._matrix[self._bucketed_rows : rows]).tolist()
        for row, keys_of_row in enumerate(new, start=self._bucketed_rows):
            for bucket, key in zip(self._buckets, keys_of_row, strict=True):
                held = bucket.get(key)
                if held is None:
                    bucket[key] = row
                elif isinstance(held, int):
                    bucket[key] = [held, row]
                else:
                    held.append(row)
        self._bucketed_rows = rows

    def candidates(self, signature: tuple[int, ...]) -> list[int]:
        """Rows sharing at least one band with ``signature``, in row order."""
        self._index_new_rows()
        keys = band_keys(signature)
        found: set[int] = set()
        if self._sorted_rows:
            probe = np.asarray(keys, dtype=np.uint64)
            low = np.searchsorted(self._sorted_keys, probe, "left")
            high = np.searchsorted(self._sorted_keys, probe, "right")
            for band in np.flatnonzero(high > low).tolist():
                for at in self._sorted_at[low[band] : high[band]].tolist():
                    if at % BANDS == band:  # the same key in another band is no match
                        found.add(at // BANDS)
        for bucket, key in zip(self._buckets, keys, strict=True):
            held = bucket.get(key)
            if held is None:
                continue
            if isinstance(held, int):
                found.add(held)
            else:
                found.update(held)
        return sorted(found)

    def match(self, signature: tuple[int, ...]) -> str | None:
        """The story most similar to ``signature`` if at least ``threshold``, else None
        (among ties, the earliest stored)."""
        if not self._row_story or len(signature) != NUM_PERM:
            return None
        rows = self.candidates(signature)
        if not rows:
            return None
        self.candidates_scored += len(rows)
        probe = np.asarray(signature, dtype=np.uint32)
        scores = (self._matrix[rows] == probe).mean(axis=1)
        best = int(np.argmax(scores))
        return self._row_story[rows[best]] if scores[best] >= self.threshold else None

    def assign(self, article_id: str, signature: tuple[int, ...]) -> str:
        """The story id for this article (an existing one when similar enough, else its own
        id); the article is added to the index. Assigning an article twice is stable."""
        known = self._story_of.get(article_id)
        if known is not None:
            return known
        story_id = self.match(signature) or article_id
        self.add(article_id, story_id, signature)
        return story_id
