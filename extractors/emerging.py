"""Emerging terms: candidate names in new articles that the catalogue does not know yet.

Pure function over (outlet, text) pairs; storing terms per run and computing growth is the
warehouse/flow's job. A term counts as known when it is a catalogue alias or when the
matcher finds any catalogue entity inside it ("Iranian Shahed-136s" is known news, not a
new name); the rest are ranked by how many outlets use them, then by frequency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from extractors.derive import alias_index, rank_candidates
from extractors.entities import Catalogue
from extractors.matcher import Matcher


@dataclass(frozen=True)
class Term:
    term: str
    count: int
    outlets: tuple[str, ...]
    example: str  # the sentence of its first occurrence


def emerging_terms(
    docs: Sequence[tuple[str, str]],
    catalogue: Catalogue,
    *,
    min_count: int = 1,
    matcher: Matcher | None = None,
) -> list[Term]:
    """Candidate terms in ``docs`` ((outlet, text) pairs) that are not in ``catalogue``."""
    matcher = matcher or Matcher(catalogue)
    known = alias_index(catalogue)
    numbered = [(f"{index}\x1f{outlet}", text) for index, (outlet, text) in enumerate(docs)]
    terms = []
    for key, tally in rank_candidates(numbered).items():
        if key in known or (key.endswith("s") and key[:-1] in known):
            continue
        count = sum(tally.forms.values())
        if count < min_count:
            continue
        term = sorted(tally.forms.items(), key=lambda item: (-item[1], item[0]))[0][0]
        if matcher.match(term).mentions:
            continue
        outlets = tuple(sorted({doc.split("\x1f", 1)[1] for doc in tally.docs}))
        terms.append(Term(term, count, outlets, tally.example))
    terms.sort(key=lambda term: (-len(term.outlets), -term.count, term.term.lower(), term.term))
    return terms
