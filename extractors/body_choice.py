"""Which extractor's text is the page's body: the first (precision) text unless evidence
says it is a fragment. Pure: texts in, a choice with its reason out.

The first text is trafilatura in precision mode, the best single setting on the corpus
(bench/extract). Its failure is keeping a fragment: a reprint notice instead of the
article, the first paragraph of a long review. A fixed character floor cannot see that, so
the evidence is relative, and measured on the corpus pages (bench/extract/README.md):

- *When to ask the others* (``second_opinion_reason``, under a millisecond): the first
  text is under the short-text floor, or the page's ``<p>`` texts that it lacks add up to
  ``MISSING_SHARE`` of its length (enough for a candidate to extend it). Only then do the
  other extractors run (trafilatura's default mode, then readability-lxml: 20-40 ms each);
  about one page in ten on the corpus.
- *What wins* (``choose``):
  - a candidate that **extends** the first text: it holds ``CONTAINS`` of the first
    text's word 4-shingles, is ``EXTENDS_RATIO`` times longer, and is not padded with
    repeats (its share of repeated shingles at most ``MAX_REPEAT_GAIN`` above the first's:
    a caption and a consent notice after every picture is not more article);
  - two candidates that **agree with each other** (each holds ``AGREE`` of the other's
    shingles), both ``EXTENDS_RATIO`` times longer than a first text they do not hold:
    two extractors outvote the first;
  - for a first text under the short-text floor, the first candidate reaching the floor
    (as the old fallback chain did), else the longest;
  - otherwise the first text stays. Moderate differences (a candidate 1.1-1.6 times
    longer) are left alone: on the corpus they help as often as they hurt.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

SHINGLE_WORDS = 4
# a candidate replaces the first text only when it is at least this many times longer
EXTENDS_RATIO = 1.75
# the other extractors run when the page's paragraphs missing from the first text add up to
# this share of its length: the extra text a candidate needs to extend it
MISSING_SHARE = EXTENDS_RATIO - 1
# share of the first text's shingles a candidate must hold to count as extending it
CONTAINS = 0.95
# how much more of a candidate than of the first text may be repeated shingles
MAX_REPEAT_GAIN = 0.1
# share of each other's shingles two candidates must hold to count as agreeing
AGREE = 0.8

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Candidate:
    """One extractor's text for the page."""

    method: str
    text: str

    @cached_property
    def shingles(self) -> Counter[tuple[str, ...]]:
        words = _WORD.findall(self.text.casefold())
        return Counter(
            tuple(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
        )

    @cached_property
    def repeated(self) -> float:
        """Share of this text's shingles that repeat an earlier one."""
        total = sum(self.shingles.values())
        return sum(count - 1 for count in self.shingles.values()) / total if total else 0.0


# a candidate, or how to get it (run only when the ones before it do not settle the page)
CandidateSource = Candidate | Callable[[], Candidate]


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    reason: str | None  # None: the first text, unchallenged


def containment(part: Candidate, whole: Candidate) -> float:
    """Share of ``part``'s shingles (as a multiset) found in ``whole``; 1.0 for no shingles."""
    total = sum(part.shingles.values())
    if not total:
        return 1.0
    found = sum(min(count, whole.shingles[key]) for key, count in part.shingles.items())
    return found / total


def second_opinion_reason(first: str, paragraphs: Iterable[str], min_chars: int) -> str | None:
    """Why the first text needs the other extractors' opinion, or None. Cheap: the page's
    ``<p>`` texts (whitespace collapsed) that the first text lacks, against its length."""
    if len(first) < min_chars:
        return f"{len(first)} characters (< {min_chars})"
    missing = sum(len(text) for text in paragraphs if text and text not in first)
    if missing >= MISSING_SHARE * len(first):
        return f"page paragraphs missing from it: {missing / len(first):.1f}x its length"
    return None


def extends(candidate: Candidate, first: Candidate) -> bool:
    """``candidate`` holds the first text and much more, not padded with repeats."""
    return (
        len(candidate.text) > len(first.text)
        and len(candidate.text) >= EXTENDS_RATIO * len(first.text)
        and containment(first, candidate) >= CONTAINS
        and candidate.repeated <= first.repeated + MAX_REPEAT_GAIN
    )


def agree(one: Candidate, other: Candidate) -> bool:
    return containment(one, other) >= AGREE and containment(other, one) >= AGREE


def choose(first: Candidate, others: Iterable[CandidateSource], min_chars: int) -> Choice:
    """The body among ``first`` and ``others`` (in order of preference; a callable is run
    only when needed, so a cheaper candidate can settle the page before a costly one runs)."""
    seen: list[Candidate] = []
    for item in others:
        candidate = item() if callable(item) else item
        if extends(candidate, first):
            ratio = len(candidate.text) / max(len(first.text), 1)
            return Choice(candidate, f"{candidate.method} extends the first text {ratio:.1f}x")
        for earlier in seen:
            if _outvote(earlier, candidate, first):
                return Choice(earlier, f"{earlier.method} and {candidate.method} agree")
        seen.append(candidate)
    if len(first.text) < min_chars:
        for candidate in seen:
            if len(candidate.text) >= min_chars:
                return Choice(candidate, f"first text under {min_chars} characters")
        longest = max([first, *seen], key=lambda c: len(c.text))
        if longest is not first:
            return Choice(longest, f"longest text, all under {min_chars} characters")
    return Choice(first, None)


def _outvote(one: Candidate, other: Candidate, first: Candidate) -> bool:
    shorter = min(len(one.text), len(other.text))
    return (
        shorter > len(first.text)
        and shorter >= EXTENDS_RATIO * len(first.text)
        and agree(one, other)
        and max(one.repeated, other.repeated) <= first.repeated + MAX_REPEAT_GAIN
    )
