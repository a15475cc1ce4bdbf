"""A story-grouping set built from the corpus, and pairwise precision/recall of a grouping.

Each base article (our extraction of a corpus page with at least ``MIN_WORDS`` words) forms
one true story with four copies that a syndication or a light rewrite would produce:

- ``other_boilerplate``: the same page extracted by readability-lxml (other page chrome);
- ``wire``: a dateline in front, reporting credits and a trust-principles footer behind;
- ``trimmed``: every fifth paragraph (or sentence) dropped;
- ``edited``: every twentieth word replaced.

Negatives are all other pairs, including different articles of one outlet (the Fundus
publishers have two to four pages each, with shared page chrome).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from newswatch.extractors.dedup import StoryIndex

MIN_WORDS = 80
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Copy:
    key: str
    story: str
    outlet: str | None
    text: str


def build_set(bases: Sequence[tuple[str, str, str | None, str, str]]) -> list[Copy]:
    """``bases``: (key, story, outlet, our text, readability text); returns copies in a
    fixed shuffled order. Two pages of one story (one article crawled twice) share ``story``."""
    copies: list[Copy] = []
    for key, story, outlet, text, readability in bases:
        if len(text.split()) < MIN_WORDS:
            continue
        variants = {
            "original": text,
            "other_boilerplate": readability,
            "wire": _wire(text),
            "trimmed": _trimmed(text),
            "edited": _edited(text),
        }
        copies += [
            Copy(f"{key}#{name}", story, outlet, variant)
            for name, variant in variants.items()
            if variant.strip()
        ]
    random.Random(7).shuffle(copies)
    return copies


def pair_scores(copies: Sequence[Copy], predicted: Sequence[str]) -> tuple[float, float, int]:
    """Pairwise precision and recall of a grouping, and the number of false merges between
    different articles of one outlet."""
    truth_pairs = _pairs([copy.story for copy in copies])
    predicted_pairs = _pairs(list(predicted))
    true_positive = len(truth_pairs & predicted_pairs)
    precision = true_positive / len(predicted_pairs) if predicted_pairs else 1.0
    recall = true_positive / len(truth_pairs) if truth_pairs else 1.0
    same_outlet_merges = sum(
        1
        for i, j in predicted_pairs - truth_pairs
        if copies[i].outlet is not None and copies[i].outlet == copies[j].outlet
    )
    return precision, recall, same_outlet_merges


def group(
    copies: Sequence[Copy], index: StoryIndex, signatures: dict[str, tuple[int, ...]]
) -> list[str]:
    """The story id ``index`` gives each copy, assigned in the set's order."""
    return [index.assign(copy.key, signatures[copy.key]) for copy in copies]


def _pairs(labels: list[str]) -> set[tuple[int, int]]:
    members: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(label, []).append(index)
    return {pair for group in members.values() for pair in combinations(group, 2)}


def _wire(text: str) -> str:
    return (
        "MOSCOW, May 3 (Reuters) - "
        + text
        + "\nReporting by Staff Writers; Editing by The Desk\n"
        + "Our Standards: The Thomson Reuters Trust Principles."
    )


def _trimmed(text: str) -> str:
    parts = text.splitlines() if text.count("\n") >= 4 else _SENTENCE.split(text)
    return "\n".join(part for index, part in enumerate(parts) if index % 5 != 4)


def _edited(text: str) -> str:
    words = text.split(" ")
    return " ".join("changed" if index % 20 == 19 else w for index, w in enumerate(words))


def outlet_sizes(copies: Sequence[Copy]) -> Counter[str]:
    return Counter(copy.outlet for copy in copies if copy.outlet and copy.key.endswith("#original"))
