"""Emerging terms: candidate names in new articles that the catalogue does not know yet.

Pure function over (outlet, text) pairs; storing terms per run and computing growth is the
warehouse/flow's job. A term counts as known when it is a catalogue alias or a run of words
inside one ("International North" of the North-South corridor), or when the matcher finds
any catalogue entity inside it ("Iranian Shahed-136s" is known news, not a new name).
Generic geography is dropped too: country and continent names in the nine languages
(Babel's CLDR territory names, a kept package), seas, rivers, gulfs and canals, and lone
compass words. The rest are ranked by how many outlets use them, then by frequency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from newswatch.core.records import ArticleRecord, EmergingTermRecord
from newswatch.extractors.derive import (
    alias_index,
    alias_parts,
    generic_geography,
    rank_candidates,
)
from newswatch.extractors.entities import Catalogue
from newswatch.extractors.matcher import Matcher

MAX_TERMS_PER_RUN = 100
_LOWER_WORD = re.compile(r"\b[a-z][a-z'-]+\b")
# single capitalised words ending so are nationality adjectives ("European", "Western")
_ADJECTIVE_SUFFIXES = ("ian", "ean", "ern", "ese", "ish", "can", "ani", "ic")


def _common_word(term: str, kinds: Mapping[str, int], lowercase_words: set[str]) -> bool:
    """A lone capitalised word that the same texts also write in lower case ("Analysts",
    "Every") or that reads as an adjective of nationality: sentence starts, not names."""
    if " " in term or kinds.get("ngram", 0) < sum(kinds.values()) or not term.isalpha():
        return False
    return term.lower() in lowercase_words or term.lower().endswith(_ADJECTIVE_SUFFIXES)


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
    parts = alias_parts(catalogue)
    numbered = [(f"{index}\x1f{outlet}", text) for index, (outlet, text) in enumerate(docs)]
    lowercase_words = {word for _, text in docs for word in _LOWER_WORD.findall(text)}
    terms = []
    for key, tally in rank_candidates(numbered).items():
        if key in known or (key.endswith("s") and key[:-1] in known) or key in parts:
            continue
        if generic_geography(key):
            continue
        count = sum(tally.forms.values())
        if count < min_count:
            continue
        term = sorted(tally.forms.items(), key=lambda item: (-item[1], item[0]))[0][0]
        if matcher.match(term).mentions or _common_word(term, tally.kinds, lowercase_words):
            continue
        outlets = tuple(sorted({doc.split("\x1f", 1)[1] for doc in tally.docs}))
        terms.append(Term(term, count, outlets, tally.example))
    terms.sort(key=lambda term: (-len(term.outlets), -term.count, term.term.lower(), term.term))
    return terms


def emerging_term_records(
    articles: Sequence[ArticleRecord],
    catalogue: Catalogue,
    run_id: str,
    seen_at: datetime,
    *,
    limit: int = MAX_TERMS_PER_RUN,
    matcher: Matcher | None = None,
) -> list[EmergingTermRecord]:
    """The run's emerging terms: candidates in its on-topic articles, best ``limit`` kept."""
    docs = [(a.outlet, a.text) for a in articles if a.on_topic and a.text]
    if not docs:
        return []
    return [
        EmergingTermRecord(
            term=term.term,
            run_id=run_id,
            count=term.count,
            outlets=len(term.outlets),
            example=term.example or None,
            first_seen_at=seen_at,
            outlet_names=term.outlets,
        )
        for term in emerging_terms(docs, catalogue, matcher=matcher)[:limit]
    ]
