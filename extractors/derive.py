"""Deterministic candidate-entity extraction from texts, and a review list against the catalogue.

Candidates are surface patterns, no model: model designators ("Shahed-136", "SA-22",
"Fath-360"), acronyms ("IRGC", "RFE/RL", "ISIS-K"), capitalised n-grams allowing inner
connectors ("Islamic Revolutionary Guard Corps", "Alabuga Special Economic Zone",
"Hashd al-Sha'bi") and short quoted terms ("ghost fleet"). Candidates merge on their
normalised form (newswatch.extractors.normalize), so "Shahed 136" and "Shahed-136" are one.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from babel import Locale

from newswatch.extractors.entities import Catalogue
from newswatch.extractors.matcher import Matcher, alias_variants, sentence_around
from newswatch.extractors.normalize import normalize_alias

KIND_BONUS = {"designator": 1.0, "acronym": 0.5, "quoted": 0.5, "ngram": 0.0}

_DESIGNATOR = re.compile(r"\b[A-Z][A-Za-z]{0,11}[-‐‑–](?:[A-Z]?\d{1,4}[A-Za-z]?|[IVX]{1,4})\b")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9]{1,7}(?:[-/&][A-Z0-9]{1,6})*(?=s?\b)")
_QUOTED = re.compile(r"\"([^\"\n]{3,60})\"|“([^”\n]{3,60})”|«([^»\n]{3,60})»|‘([^’\n]{3,60})’")
# a hyphen or dash joins the words of one name ("North–South" is one word of the corridor)
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’]*(?:[-‐‑–][\w'’]+)*")
# Lower-case words allowed inside a name ("Center for a New American Security").
_CONNECTORS = frozenset({"of", "for", "de", "al", "bin", "ibn", "el", "a"})
_MODIFIERS = ("-backed", "-made", "-built", "-linked", "-supported", "-aligned", "-led",
              "-based", "-spec", "-style", "-type", "-designed", "-run", "-owned")  # fmt: skip
_ARTICLE_PREFIXES = ("al-", "el-", "ad-", "an-", "ar-", "as-", "ash-", "at-", "az-")
# Capitalised words that say nothing alone (sentence starts, months, titles, pronouns).
_STOPWORD_TEXT = """
a about according after all also although amid an and another any are as at back be because
before beyond both but by certainly despite do does during each even finally focusing for from
further given had has have he her here his how however i if in increasingly indeed instead into
is it its just last leading less like looking many may more moreover most much my no not now
of on once one only or other our over part perhaps prior produce recent same see she since so
some speaking such than that the their them then there these they this those though thus to
turning under until up us very was we what when where whether which while who why will with
within without yes yet you your
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
monday tuesday wednesday thursday friday saturday sunday
mr mrs ms dr gen general president minister director chief commander spokesman senior deputy
major editors note related categories ii iii iv
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_CONTRACTION = re.compile(r"\w['’](?:re|ve|ll|d|m)\b|n['’]t\b")


def _headline_lines(text: str) -> str:
    """Blank out headline-like lines (capitals or Title Case): same offsets."""
    lines = text.split("\n")
    for number, line in enumerate(lines):
        letters = [char for char in line if char.isalpha()]
        words = line.split()
        capitalised = sum(word[0].isupper() for word in words)
        shouting = len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.8
        title_case = len(words) >= 4 and capitalised / len(words) >= 0.7
        if shouting or title_case:
            lines[number] = " " * len(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class Candidate:
    term: str  # the surface form as written
    kind: str  # designator | acronym | ngram | quoted
    start: int  # offset in the text


@dataclass(frozen=True)
class ReviewRow:
    term: str
    kind: str
    count: int
    seeds: tuple[str, ...]
    score: float
    entity_id: str | None  # the catalogue entity this candidate is, if any
    contains: tuple[str, ...] = ()  # catalogue entities inside a new candidate
    example: str = ""

    def as_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["status"] = "in_catalogue" if self.entity_id else "new"
        return row


@dataclass
class _Tally:
    forms: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    docs: set[str] = field(default_factory=set)
    example: str = ""


def extract_candidates(text: str) -> list[Candidate]:
    """Every candidate occurrence in ``text``, in text order."""
    found: list[Candidate] = []
    text = _headline_lines(text)
    for match in _DESIGNATOR.finditer(text):
        term = match.group()
        if not term[-1].isdigit() and term[-2:-1].isdigit() and term.endswith("s"):
            term = term[:-1]  # "Shahed-136s"
        found.append(Candidate(term, "designator", match.start()))
    for match in _ACRONYM.finditer(text):
        term = match.group()
        if sum(char.isupper() for char in term) >= 2 and term.lower() not in _STOPWORDS:
            found.append(Candidate(term, "acronym", match.start()))
    for match in _QUOTED.finditer(text):
        group = next(index for index in range(1, 5) if match.group(index) is not None)
        term = match.group(group).strip(" .,;:")
        if 1 <= len(term.split()) <= 5 and not term.endswith(("?", "!")):
            found.append(Candidate(term, "quoted", match.start(group)))
    found.extend(_capitalised_ngrams(text))
    # one candidate per position and form: a designator is also a capitalised word
    priority = {kind: rank for rank, kind in enumerate(KIND_BONUS)}
    unique: dict[tuple[int, str], Candidate] = {}
    for candidate in sorted(found, key=lambda c: (c.start, priority[c.kind])):
        unique.setdefault((candidate.start, candidate.term.rstrip("s")), candidate)
    return list(unique.values())


def _capitalised_ngrams(text: str) -> Iterable[Candidate]:
    run: list[re.Match[str]] = []
    previous_end = -1
    for match in _WORD.finditer(text):
        word = match.group()
        gap = text[previous_end : match.start()] if previous_end >= 0 else " "
        joined = gap in {" ", "\u00a0"}
        article = word.lower().startswith(_ARTICLE_PREFIXES)
        core = word.split("-", 1)[1] if article else word  # "al-Sha'bi" -> "Sha'bi"
        capitalised = core[:1].isupper() and (not word.isupper() or len(word) > 1)
        connector = word.lower() in _CONNECTORS or article
        if capitalised and (word.lower() in _STOPWORDS or word.lower().endswith(_MODIFIERS)):
            # "The", "President", "Iran-backed", "Iranian-made" are not part of a name
            yield from _emit(text, run)
            run = []
        elif run and joined and (capitalised or connector) and len(run) < 6:
            run.append(match)
        else:
            yield from _emit(text, run)
            run = [match] if capitalised else []
        if word.endswith(("'s", "’s")):  # a possessive ends the name
            yield from _emit(text, run)
            run = []
        previous_end = match.end()
    yield from _emit(text, run)


def _emit(text: str, run: list[re.Match[str]]) -> Iterable[Candidate]:
    while run and (run[-1].group().lower() in _CONNECTORS or run[-1].group().lower() in _STOPWORDS):
        run = run[:-1]
    while run and (run[0].group().lower() in _STOPWORDS or run[0].group().lower() in _CONNECTORS):
        run = run[1:]
    if not run:
        return
    term = text[run[0].start() : run[-1].end()]
    term = re.sub(r"['’]s$", "", term)
    if _CONTRACTION.search(term):
        return
    if len(term) >= 3 and not (len(run) == 1 and term.isupper()):  # acronyms come elsewhere
        yield Candidate(term, "ngram", run[0].start())


def rank_candidates(docs: Sequence[tuple[str, str]]) -> dict[str, _Tally]:
    """Tally candidates over (doc id, text) pairs, keyed by normalised form."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for doc_id, text in docs:
        for candidate in extract_candidates(text):
            key = normalize_alias(candidate.term)
            if not key or key.isdigit():
                continue
            tally = tallies[key]
            tally.forms[candidate.term] += 1
            tally.kinds[candidate.kind] += 1
            tally.docs.add(doc_id)
            if not tally.example:
                tally.example = sentence_around(
                    text, candidate.start, candidate.start + len(candidate.term)
                )
    return tallies


# ---------------------------------------------------------------- generic terms
# Not worth a reviewer's or an analyst's time as a new name: country, continent and region
# names in the nine languages (Babel's CLDR territory names), water bodies and landforms,
# lone compass words and nationality adjectives, and runs of words inside a catalogue
# name or alias ("Islamic" of the Islamic Republic, "International North" of the corridor).
_NATIONALITY_SUFFIXES = ("ian", "ean", "ern", "ese", "ish", "can", "ani", "ic")
_LANGUAGES = ("en", "ru", "uk", "fa", "ar", "de", "fr", "tr", "he")
# a word of a water body or landform ends the question: "Black Sea", "Suez Canal", "Gulf"
_GEOGRAPHY_WORDS = frozenset({
    "sea", "seas", "ocean", "gulf", "strait", "straits", "river", "canal", "bay", "lake",
    "delta", "basin", "channel", "peninsula", "mountains", "desert", "coast",
})  # fmt: skip
# seas and rivers named without their class noun
_WATERS = frozenset({
    "volga", "kama", "danube", "dnieper", "dniester", "ural", "amur", "euphrates", "tigris",
    "nile", "baltic", "mediterranean", "adriatic", "aegean", "caribbean", "arctic", "atlantic",
    "pacific", "antarctic",
})  # fmt: skip
_COMPASS = frozenset({
    "north", "south", "east", "west", "northern", "southern", "eastern", "western", "central",
    "northeast", "northwest", "southeast", "southwest",
})  # fmt: skip
_ALIAS_PARTS: dict[str, frozenset[str]] = {}


@lru_cache(maxsize=1)
def _territory_names() -> frozenset[str]:
    """Normalised country, continent and region names in the nine languages (CLDR)."""
    names: set[str] = set()
    for language in _LANGUAGES:
        names.update(normalize_alias(name) for name in Locale.parse(language).territories.values())
    return frozenset(names - {""})


def alias_parts(catalogue: Catalogue) -> frozenset[str]:
    """Every run of whole words inside a catalogue name or alias (normalised), per version."""
    parts = _ALIAS_PARTS.get(catalogue.version)
    if parts is None:
        found: set[str] = set()
        for entity in catalogue.entities:
            for alias in (entity.name, *entity.aliases, *entity.case_sensitive_aliases):
                words = normalize_alias(alias).replace("\x00", " ").split()
                for size in range(1, min(len(words), 8) + 1):
                    found.update(
                        " ".join(words[i : i + size]) for i in range(len(words) - size + 1)
                    )
        parts = _ALIAS_PARTS[catalogue.version] = frozenset(found)
    return parts


def generic_geography(key: str) -> bool:
    words = key.split()
    singular = key[:-1] if key.endswith("s") else key
    return (
        key in _territory_names()
        or singular in _territory_names()
        or any(word in _GEOGRAPHY_WORDS or word in _WATERS for word in words)
        or (len(words) == 1 and key in _COMPASS)
    )


def generic_term(key: str) -> bool:
    """Geography, or a lone compass word or nationality adjective ("Western", "Islamic")."""
    if generic_geography(key):
        return True
    return " " not in key and key.isalpha() and key.endswith(_NATIONALITY_SUFFIXES)


def alias_index(catalogue: Catalogue) -> dict[str, str]:
    """Normalised alias variant -> entity id, for every alias of every entity."""
    index: dict[str, str] = {}
    for entity in catalogue.entities:
        surfaces = (entity.name, *entity.aliases, *entity.case_sensitive_aliases)
        for surface in surfaces:
            for variant in alias_variants(surface):
                index.setdefault(variant, entity.id)
    return index


def review(
    docs: Sequence[tuple[str, str]], catalogue: Catalogue, matcher: Matcher | None = None
) -> list[ReviewRow]:
    """Ranked candidates from ``docs``, each marked in-catalogue (with its id) or new."""
    matcher = matcher or Matcher(catalogue)
    index = alias_index(catalogue)
    parts = alias_parts(catalogue)
    rows = []
    for key, tally in rank_candidates(docs).items():
        term = sorted(tally.forms.items(), key=lambda item: (-item[1], item[0]))[0][0]
        kind = sorted(tally.kinds.items(), key=lambda item: (-item[1], item[0]))[0][0]
        count = sum(tally.forms.values())
        entity_id = index.get(key) or (index.get(key[:-1]) if key.endswith("s") else None)
        if entity_id is None and (key in parts or generic_term(key)):
            continue  # a piece of a catalogue name, a country, a sea, "Western"
        if entity_id is None and kind == "acronym" and len(key) <= 2 and len(tally.docs) == 1:
            continue  # a two-letter acronym of one seed ("BA") names nothing yet
        contains: tuple[str, ...] = ()
        if entity_id is None:
            contains = tuple(mention.entity_id for mention in matcher.match(term).mentions)
        words = len(term.split())
        score = math.log1p(count) * len(tally.docs) + KIND_BONUS[kind] + 0.25 * min(words - 1, 3)
        rows.append(
            ReviewRow(
                term=term,
                kind=kind,
                count=count,
                seeds=tuple(sorted(tally.docs)),
                score=round(score, 3),
                entity_id=entity_id,
                contains=contains,
                example=tally.example,
            )
        )
    rows.sort(key=lambda row: (-row.score, row.term.lower(), row.term))
    return rows


def derive_review(seed_dir: Path, catalogue: Catalogue) -> list[ReviewRow]:
    """The review list for every ``*.txt`` seed in ``seed_dir`` (seed id = file stem)."""
    paths = sorted(Path(seed_dir).glob("*.txt"))
    docs = [(path.stem, path.read_text(encoding="utf-8", errors="replace")) for path in paths]
    return review(docs, catalogue)
