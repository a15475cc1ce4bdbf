"""Find catalogue entities in a text in one pass, and score the text's relevance.

``Matcher(catalogue)`` turns every normalised alias variant, prefixed with a boundary
character, into an Aho-Corasick pattern (pyahocorasick), so a hit always starts at a token
boundary; there is one automaton per script mix (Latin only, + Cyrillic, + Arabic), built on
first use. ``match(text, title)`` normalises the text once (newswatch.extractors.normalize),
walks the automaton with leftmost-longest semantics (Kataib Hezbollah beats Hezbollah),
checks the right boundary (or an allowed suffix), exact case for acronyms against the
ORIGINAL text, required contexts for ambiguous aliases and negative contexts, then maps the
first hit of each entity back to an offset and a sentence snippet in the original text.

A Matcher pickles as its catalogue and rebuilds its patterns on unpickling (~0.2 s).
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import ahocorasick

from newswatch.core.records import MatchResult, Mention
from newswatch.extractors.entities import (
    Catalogue,
    Entity,
    RelevanceConfig,
    RelevanceRule,
    load_catalogue,
)
from newswatch.extractors.normalize import BOUNDARIES, HARD, SOFT, NormalizedText, normalize_alias
from newswatch.extractors.normalize import normalize_text as normalize

CONTEXT_WINDOW = 160  # normalised characters each side of a hit searched for context words
SNIPPET_MAX = 240
# Proclitics written attached to an Arabic/Persian word: و (and), ب (by), ل (for), ف (so).
# (The article ال is stripped by normalisation, in text and aliases alike.)
ARABIC_PREFIXES = ("و", "ب", "ل", "ف", "وب", "ول")
# Suffixes after an Arabic-script name: Persian ezafe/adjective ی, plurals, Arabic nisba,
# and the alif of the Arabic indefinite accusative (روساً).
ARABIC_SUFFIXES = frozenset(
    {"ی", "ها", "های", "ای", "یان", "ان", "ون", "ین", "یه", "ه", "ا", "یون", "یین"}
)
LATIN_PLURALS = frozenset({"s", "es"})
# Hebrew proclitics written attached to the next word: ו (and), ה (the), ב (in), ל (to),
# מ (from), ש (that), כ (as) and their usual stacks (וב, ומה, שב ...).
HEBREW_PREFIXES = (
    "ו", "ה", "ב", "ל", "מ", "ש", "כ", "וה", "וב", "ול", "ומ", "וש", "וכ", "שה", "שב", "של",
    "שמ", "מה", "לה", "כש", "וכש", "ושה", "ושב", "ומה",
)  # fmt: skip
# Prepositions that absorb a following article ה: ב + הכור = בכור, ל + הים = לים (and with ו, ש).
HEBREW_ABSORBING = ("ב", "ל", "כ", "וב", "ול", "וכ", "שב", "של", "שכ")
# Hebrew endings after a name: gentilic/adjective י/ית/יים/יות, plurals ים/ות.
HEBREW_SUFFIXES = frozenset({"י", "ית", "ים", "יים", "יות", "ות"})
# Per-language endings allowed after an alias tagged with that language (aliases_by_language).
# German: genitive -s/-es (Irans, Russlands), plural and adjective endings (Drohnen,
# iranische, russischen). French: plural -s/-x (elision l'/d' is a token boundary already).
# Turkish: case, plural and possessive suffixes written without an apostrophe after
# common nouns (araçları, füzeleri); after a proper noun Turkish writes an apostrophe
# (İran'ın, Rusya'ya), which is a token boundary. Turkish endings apply to aliases of 4+
# characters only, so a short alias does not swallow a word of another language.
LANGUAGE_SUFFIXES: dict[str, frozenset[str]] = {
    "de": frozenset({"s", "es", "e", "en", "n", "er", "em", "ern", "ns"}),
    "fr": frozenset({"s", "x"}),
    "tr": frozenset(
        {
            "ı", "i", "u", "ü", "a", "e", "ya", "ye", "yı", "yi", "yu", "yü", "da", "de", "ta",
            "te", "dan", "den", "tan", "ten", "ın", "in", "un", "ün", "nın", "nin", "nun", "nün",
            "la", "le", "yla", "yle", "lar", "ler", "ları", "leri", "ların", "lerin", "lara",
            "lere", "larda", "lerde", "na", "ne", "nı", "ni", "nda", "nde", "ndan", "nden", "sı",
            "si", "su", "sü", "sın", "sin", "sına", "sine", "lı", "li", "lu", "lü", "daki",
            "deki", "taki", "teki", "ndaki", "ndeki",
        }
    ),
}  # fmt: skip
_TURKISH_MIN = 4
# After a Turkish alias under 4 letters (Rus, Çin) only the plural and gentilic endings, so
# "Ruslar", "Rusların", "Çinli" match and "Rusa", "Ruse" do not.
TURKISH_SHORT_SUFFIXES = frozenset(
    {
        "lar", "ler", "ları", "leri", "ların", "lerin", "lara", "lere", "larda", "lerde",
        "lardan", "lerden", "larla", "lerle", "lı", "li", "lılar", "liler",
    }
)  # fmt: skip
# Turkish stacks its suffixes (İran-lı-lar-la, Rus-lar-ın-dan): after a Turkish alias the
# ending may be a chain of up to three listed suffixes, at most this many letters.
_TURKISH_CHAIN = 10
# entity types that are no evidence beside a weak cue (a vote "jointly", "sanctions")
_GENERIC_TYPES = frozenset({"country", "government", "place"})
_NAME_TYPES = frozenset({"country", "government", "organisation", "agreement", "place"})
_TOPIC_SIDES = frozenset({"russia", "iran", "proxy"})
_HEBREW_MIN = 4
_STRONG, _WEAK, _CIVILIAN, _MILITARY = 0, 1, 2, 3  # kinds of cue-automaton terms
_SUFFIXED = 1  # automaton value flags: some candidate allows a suffix after the pattern
_MULTI_TOKEN = 2  # the pattern has an inner token boundary
_NEGATABLE = 4  # the first candidate's entity has negative contexts
_NO_PLURAL_TYPES = frozenset({"person", "country"})
_ARABIC_LETTER = re.compile("[\u0600-\u06ff]")
_HEBREW_LETTER = re.compile("[\u05d0-\u05ea]")
_HEBREW_LETTERS = tuple(map(chr, range(0x05D0, 0x05EB)))
# Hebrew writes ך ם ן ף ץ only at a word's end: before an ending the letter takes its
# regular form (איראן, איראנים), so a name or cue ending in one also gets that spelling.
_HEBREW_FINALS = str.maketrans("ךםןףץ", "כמנפצ")
_CYRILLIC_LETTER = re.compile("[\u0400-\u04ff]")
_LATIN_OR_DIGIT = re.compile("[a-z0-9]")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d]) (?=\d)")
_APOSTROPHES = re.compile("['\u2019\u2018\u02bc`]")
_SENTENCE_BREAK = re.compile(r"[.!?](?=\s)|[。\n]")
# Units for the proximity rules: a sentence ends at . ! ? ؟ before a space (not after a
# lone capital: "U.S. officials"), at 。 or a line break; a paragraph at a line break.
_UNIT_SENTENCE = re.compile(r"(?<!\b[A-Z])[.!?؟](?=\s)|[。\n]")
_UNIT_PARAGRAPH = re.compile(r"\n")


@dataclass(frozen=True)
class _Candidate:
    entity: int  # index in catalogue.entities
    alias: str  # the catalogue alias this pattern came from
    case_sensitive: bool
    ambiguous: bool
    prefix: int  # characters of an attached Arabic proclitic inside the pattern
    suffixes: frozenset[str]
    has_negatives: bool = False


@dataclass
class _Hit:
    count: int
    start: int  # normalised offsets of the first hit
    end: int
    alias: str
    starts: list[int]  # normalised start of every hit (for the proximity rules)
    ends: list[int] = field(default_factory=list)  # normalised end of every hit


@dataclass(frozen=True)
class _Found:
    """What the rules look at: entities with where they were found, and the cues."""

    body: dict[int, list[int]]  # entity index -> normalised starts in the body
    titled: frozenset[int]  # entity indexes found in the title
    norm: NormalizedText
    text: str
    title_norm: NormalizedText | None
    title: str
    breaks: dict[str, list[int]] = field(default_factory=dict)  # per unit kind, computed once
    # normalised (start, end) of every hit of a name whose words may be cues (the United
    # Nations, the Shanghai Cooperation Organisation), body and title: no cue inside them
    names: tuple[tuple[int, int], ...] = ()
    title_names: tuple[tuple[int, int], ...] = ()

    def breaks_of(self, within: str) -> list[int]:
        """Original offsets just after each sentence / paragraph end."""
        found = self.breaks.get(within)
        if found is None:
            pattern = _UNIT_SENTENCE if within == "sentence" else _UNIT_PARAGRAPH
            found = self.breaks[within] = [m.end() for m in pattern.finditer(self.text)]
        return found


class Matcher:
    """Built once per catalogue; ``match`` is safe to call from many threads."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue if catalogue is not None else load_catalogue()
        self._entities = self.catalogue.entities
        self._contexts = [_context_terms(entity.contexts) for entity in self._entities]
        # an alias that is also a common word or a first name has its own, stricter contexts
        self._alias_contexts = {
            (index, alias): _context_terms(words)
            for index, entity in enumerate(self._entities)
            for alias, words in entity.alias_contexts
        }
        # entities topic-specific only beside one of their topic contexts (Yelabuga + plant)
        self._topic_contexts = {
            index: _terms(entity.topic_contexts)
            for index, entity in enumerate(self._entities)
            if entity.topic_contexts
        }
        self._negatives = [_context_terms(entity.negative_contexts) for entity in self._entities]
        self._veto = _word_automaton(_terms(self.catalogue.relevance.veto_contexts))
        relevance = self.catalogue.relevance
        self._cues = _cue_automaton(
            relevance.relation_cues,
            relevance.relation_words,
            relevance.weak_relation_cues,
            relevance.civilian_contexts,
            relevance.military_cues,
        )
        # One automaton per script mix, built on first use: a text without Cyrillic or
        # Arabic letters needs none of those patterns, and a smaller automaton walks faster.
        self._patterns = _build_patterns(self._entities)
        self._automata: dict[tuple[bool, bool, bool], ahocorasick.Automaton] = {}
        self._unnegatable: dict[tuple[bool, bool, bool], dict[int, tuple[str, ...]]] = {}
        config = self.catalogue.relevance
        self._weights = [
            config.side_weights.get(e.side, 1.0) * config.type_weights.get(e.type, 1.0)
            for e in self._entities
        ]
        self._rules = {rule.name: rule for rule in config.rules}
        # names of states, organisations, treaties and places: a cue word inside one is part
        # of the name ("United Nations" = الأمم المتحدة, "Soviet Union" = Советский Союз,
        # "Shanghai Cooperation Organisation"), not a relation between the sides
        self._names = [e.type in _NAME_TYPES and not e.topic_specific for e in self._entities]
        # entities that back a weak cue: Russia-, Iran- or proxy-side and more specific than
        # a country, government or place (the IRGC, Rostec, a Shahed, a minister), or a
        # topic concept of no side (sanctions evasion, the ghost fleet; not "EU sanctions")
        # (a civilian installation such as a nuclear power plant backs none)
        self._evidence = [
            e.type not in _GENERIC_TYPES
            and not e.civilian
            and (e.side in _TOPIC_SIDES or (e.type == "concept" and e.side == "other"))
            for e in self._entities
        ]

    def __reduce__(self) -> tuple[type[Matcher], tuple[Catalogue]]:
        return (Matcher, (self.catalogue,))

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    def _automaton_for(
        self, norm: NormalizedText
    ) -> tuple[ahocorasick.Automaton, dict[int, tuple[str, ...]]]:
        """The automaton for the text's script mix, and the entities none of whose
        negative terms can occur in such a text (each with no terms), to seed the per-text
        cache: an English text never searches for ישראל כהן."""
        text = norm.text
        # one memchr-like pass per Hebrew letter beats encoding or a regex scan
        hebrew = not text.isascii() and any(letter in text for letter in _HEBREW_LETTERS)
        key = (norm.cyrillic, norm.arabic, hebrew)
        automaton = self._automata.get(key)
        if automaton is None:
            cyrillic, arabic, _ = key
            self._unnegatable[key] = {
                index: ()
                for index, terms in enumerate(self._negatives)
                if terms
                and all(
                    (not cyrillic and _CYRILLIC_LETTER.search(term))
                    or (not arabic and _ARABIC_LETTER.search(term))
                    or (not hebrew and _HEBREW_LETTER.search(term))
                    for term in terms
                )
            }
            automaton = self._automata[key] = _build_automaton(self._patterns, *key)
        return automaton, self._unnegatable[key]

    def match(self, text: str, title: str | None = None) -> MatchResult:
        """Entities mentioned in ``text`` (and ``title``), relevance and on-topic verdict."""
        norm = normalize(text)
        body = self._scan(norm, text)
        title_norm = normalize(title) if title else None
        titled = self._scan(title_norm, title) if title_norm is not None and title else {}
        if not body and not titled:
            return MatchResult((), 0.0, False, None)
        entities = self._entities
        mentions = []
        # one pass over the sentence ends pays off once the snippet windows cover the text
        breaks = sentence_breaks(text) if len(body) * 2 * SNIPPET_MAX > len(text) else None
        for index, hit in body.items():
            start, end = norm.span_to_original(hit.start, hit.end)
            snippet = sentence_around(text, start, end, breaks)
            mentions.append(Mention(entities[index].id, hit.count, start, snippet, hit.alias))
        for index, hit in titled.items():
            if index not in body:
                snippet = (title or "")[:SNIPPET_MAX]
                mentions.append(Mention(entities[index].id, 0, -1, snippet, hit.alias))
        mentions.sort(key=_mention_order)
        counts: dict[int, float] = {index: hit.count for index, hit in body.items()}
        weight = self.catalogue.relevance.title_weight
        for index, hit in titled.items():
            counts[index] = counts.get(index, 0) + weight * hit.count
        found = _Found(
            {index: hit.starts for index, hit in body.items()},
            frozenset(titled),
            norm,
            text,
            title_norm,
            title or "",
            names=self._name_spans(body),
            title_names=self._name_spans(titled),
        )
        relevance, rule, cue = self._verdict(counts, found, frozenset())
        if rule is not None and not rule.topic_specific:
            vetoes = self._vetoes(found)
            if vetoes:
                relevance, rule, cue = self._verdict(counts, found, vetoes)
        # the stored rule says what decided: its name, and for a cue rule the cue word
        label = None if rule is None else rule.name if cue is None else f"{rule.name}: {cue}"
        return MatchResult(tuple(mentions), relevance, rule is not None, label)

    def _name_spans(self, hits: dict[int, _Hit]) -> tuple[tuple[int, int], ...]:
        """Sorted (start, end) of the hits of names whose words are no relation cue."""
        named = self._names
        return tuple(
            sorted(
                (start, end)
                for index, hit in hits.items()
                if named[index]
                for start, end in zip(hit.starts, hit.ends, strict=False)
            )
        )

    def _vetoes(self, found: _Found) -> frozenset[object]:
        """The paragraphs (numbered as the paragraph units) holding a veto word (sport,
        culture), and "title" when the title holds one."""
        vetoed: set[object] = set()
        norm = found.norm
        starts = _word_starts(self._veto, norm.text)
        if starts:
            breaks = found.breaks_of("paragraph")
            vetoed.update(bisect_right(breaks, norm.to_original(start)) for start in starts)
        if found.title_norm is not None and _has_word(self._veto, found.title_norm.text):
            vetoed.add("title")
        return frozenset(vetoed)

    def _verdict(
        self, counts: dict[int, float], found: _Found, vetoes: frozenset[object]
    ) -> tuple[float, RelevanceRule | None, str | None]:
        """Score over entity indexes (per-entity weights computed once), the first rule
        that holds (proximity and cue conditions checked per unit) and its cue word.

        A veto word (sport, culture) stops the rules that are not ``topic_specific`` in
        its paragraph; in the title, or for a rule over the whole text, everywhere."""
        weights, entities = self._weights, self._entities
        total = round(sum(weights[i] * (1.0 + math.log(max(n, 1.0))) for i, n in counts.items()), 3)
        everything = [entities[index] for index in counts]
        topic_specific = any(entity.topic_specific for entity in everything) or any(
            self._topical(found, index) for index in counts if index in self._topic_contexts
        )
        sides = {entity.side for entity in everything}
        types = {entity.type for entity in everything}
        units: dict[str, dict[object, set[int]]] = {}
        cues: dict[str, dict[object, tuple[str, bool]]] = {}
        armed: dict[str, set[object]] = {}
        everywhere = "title" in vetoes
        for rule in self.catalogue.relevance.rules:
            if rule.topic_specific:
                if not topic_specific:
                    continue
            elif everywhere or (vetoes and rule.within == "text"):
                continue
            if total < rule.min_score or not _holds(rule, sides, types, len(everything)):
                continue  # not even over the whole text
            plain = not (
                rule.require_cue or rule.military_cue or rule.specific_types or rule.side_types
            )
            if rule.within == "text" and plain:
                return total, rule, None
            if rule.within not in units:
                units[rule.within], cues[rule.within], armed[rule.within] = self._units(
                    found, rule.within
                )
            if rule.bridges:
                if self._bridged(rule, units[rule.within], found, vetoes):
                    return total, rule, None
                continue
            for unit, members in units[rule.within].items():
                cue = cues[rule.within].get(unit)
                if rule.require_cue and (
                    cue is None or (cue[1] and not any(map(self._evidence.__getitem__, members)))
                ):
                    continue  # no cue, or a weak one beside countries and capitals only
                if rule.military_cue and unit not in armed[rule.within]:
                    continue  # a visit or talks, not drones, missiles or instructors
                if (
                    vetoes
                    and not rule.topic_specific
                    and unit != "title"
                    and self._paragraph(found, rule.within, unit) in vetoes
                ):
                    continue
                chosen = [entities[index] for index in members]
                if rule.specific_types and not any(
                    entity.type in rule.specific_types and _on_a_side(rule, entity)
                    for entity in chosen
                ):
                    continue
                if rule.side_types:
                    chosen = [entity for entity in chosen if entity.type in rule.side_types]
                if _rule_holds(rule, chosen):
                    return total, rule, cue[0] if rule.require_cue and cue else None
        return total, None, None

    def _topical(self, found: _Found, index: int) -> bool:
        """Whether one of the entity's topic contexts starts a word near one of its hits
        (within the context window, in the body or in the title)."""
        terms = self._topic_contexts[index]
        text = found.norm.text
        for start in found.body.get(index, ()):
            window = text[max(0, start - CONTEXT_WINDOW) : start + CONTEXT_WINDOW]
            if _has_term(window, terms):
                return True
        title = found.title_norm
        return index in found.titled and title is not None and _has_term(title.text, terms)

    def _bridged(
        self,
        rule: RelevanceRule,
        units: dict[object, set[int]],
        found: _Found,
        vetoes: frozenset[object],
    ) -> bool:
        """Whether each of the rule's side groups shares a unit with one of its bridge
        entities (units in a vetoed paragraph do not count)."""
        entities = self._entities
        bridges = set(rule.bridges)
        beside: set[str] = set()
        for unit, members in units.items():
            if not any(entities[index].id in bridges for index in members):
                continue
            if vetoes and unit != "title" and self._paragraph(found, rule.within, unit) in vetoes:
                continue
            beside.update(entities[index].side for index in members)
        return all(beside.intersection(group) for group in rule.require_sides)

    @staticmethod
    def _paragraph(found: _Found, within: str, unit: object) -> object:
        """The paragraph a unit lies in (a sentence unit: where its break list puts it)."""
        if within != "sentence" or not isinstance(unit, int):
            return unit
        sentence_breaks = found.breaks_of("sentence")
        start = sentence_breaks[unit - 1] if unit > 0 else 0
        return bisect_right(found.breaks_of("paragraph"), start)

    def _units(
        self, found: _Found, within: str
    ) -> tuple[dict[object, set[int]], dict[object, tuple[str, bool]], set[object]]:
        """Entity indexes per unit (sentence / paragraph / the whole text; the title is a
        unit of its own), the first relation cue of each unit that has one, as (word as
        written, weak; a unit's first strong cue wins over a weak one), and the units
        holding a military cue."""
        text, norm = found.text, found.norm
        breaks = found.breaks_of(within) if within != "text" else []
        members: dict[object, set[int]] = {}
        for index, starts in found.body.items():
            for start in starts:
                unit = bisect_right(breaks, norm.to_original(start))
                members.setdefault(unit, set()).add(index)
        if found.titled:
            members.setdefault("title", set()).update(found.titled)
        cues: dict[object, tuple[str, bool]] = {}
        civilian: set[object] = set()
        military: set[object] = set()
        for start, end, kind in _cue_spans(self._cues, norm.text):
            if _inside(found.names, start, end):
                continue  # a word of a name: "United Nations", "Soviet Union"
            o_start = norm.to_original(start)
            unit = bisect_right(breaks, o_start)
            if unit not in members:
                continue
            if kind == _CIVILIAN:
                civilian.add(unit)
                continue
            if kind == _MILITARY:
                military.add(unit)
            weak = kind == _WEAK
            if unit not in cues or (cues[unit][1] and not weak):
                cues[unit] = (_word_at(text, o_start, norm.to_original(end - 1) + 1), weak)
        title_norm = found.title_norm
        if title_norm is not None and "title" in members:
            for start, end, kind in _cue_spans(self._cues, title_norm.text):
                if _inside(found.title_names, start, end):
                    continue
                if kind == _CIVILIAN:
                    civilian.add("title")
                    continue
                if kind == _MILITARY:
                    military.add("title")
                weak = kind == _WEAK
                if "title" in cues and (weak or not cues["title"][1]):
                    continue
                o_start, o_end = title_norm.span_to_original(start, end)
                cues["title"] = (_word_at(found.title, o_start, o_end), weak)
        # a civilian story (grain, students, research) without a military word: its cues
        # are weak, they need an entity more specific than a country beside them
        for calm in civilian - military:
            if calm in cues:
                cues[calm] = (cues[calm][0], True)
        return members, cues, military

    def _scan(self, norm: NormalizedText, original: str) -> dict[int, _Hit]:
        """Accepted hits per entity, leftmost-longest. A hit whose longest pattern fails
        falls back to the longest shorter pattern ending at an inner token boundary."""
        hits: dict[int, _Hit] = {}
        text = norm.text
        size = len(text)
        automaton, unnegatable = self._automaton_for(norm)
        # negative terms found anywhere in the text, per entity (filled on first need)
        present: dict[int, tuple[str, ...]] = dict(unnegatable)
        # a sentinel no pattern holds: pyahocorasick's iter_long drops a match reached
        # through a failure link at the very end of the input (WojciechMula/pyahocorasick#133,
        # fix pending in #224): "... the Islamic Revolutionary Guard Corps" as a text's end
        scanned = text + "\uffff"  # a noncharacter: in no key, unlike the HARD boundary
        position: int | None = 0
        while position is not None:
            restart = None
            for last, (length, candidates, plain, flags) in automaton.iter_long(scanned, position):
                start, end = last - length + 1, last + 1
                chosen = None
                bounded = end == size or text[end] in BOUNDARIES
                if (
                    bounded
                    and plain is not None
                    and (
                        not flags & _NEGATABLE
                        or not self._negatives_in(text, plain.entity, present)
                    )
                ):
                    chosen = plain  # the common case: no case, context or negative to check
                elif bounded or flags & _SUFFIXED:
                    chosen = self._choose(norm, original, start, end, candidates, present)
                if chosen is None:
                    if not flags & _MULTI_TOKEN:
                        continue  # one token ("un" in "und"): nothing else starts inside it
                    inner_boundaries = [
                        i for i in range(end - 1, start, -1) if text[i] in BOUNDARIES
                    ]
                    restart = inner_boundaries[-1]  # the next pattern start inside the hit
                    for inner in inner_boundaries:
                        # the shorter name as a key, or a key plus an allowed ending up to
                        # the boundary ("ukrainischer Geheimdienstler": ukrainisch + er)
                        for cut in range(inner, max(start + 1, inner - 4), -1):
                            shorter = automaton.get(text[start:cut], None)
                            if shorter is None or (cut < inner and not shorter[3] & _SUFFIXED):
                                continue
                            chosen = self._choose(norm, original, start, cut, shorter[1], present)
                            if chosen is not None:
                                end, restart = cut, inner
                                break
                        if chosen is not None:
                            break
                if chosen is not None:
                    hit = hits.get(chosen.entity)
                    first = start + 1 + chosen.prefix
                    if hit is None:
                        hits[chosen.entity] = _Hit(1, first, end, chosen.alias, [first], [end])
                    else:
                        hit.count += 1
                        hit.starts.append(first)
                        hit.ends.append(end)
                if restart is not None:
                    break  # resume the automaton inside the failed hit
            position = restart
        return hits

    def _choose(
        self,
        norm: NormalizedText,
        original: str,
        start: int,
        end: int,
        candidates: tuple[_Candidate, ...],
        present: dict[int, tuple[str, ...]],
    ) -> _Candidate | None:
        text = norm.text
        for candidate in candidates:
            if not _right_boundary_ok(text, end, candidate.suffixes):
                continue
            if candidate.case_sensitive:
                o_start = norm.to_original(start + 1 + candidate.prefix)
                if original[o_start : o_start + 1] != candidate.alias[:1]:
                    continue  # cheap first-letter check ("us" is not "US")
                o_end = norm.to_original(end - 1) + 1
                surface = original[o_start:o_end]
                if surface != candidate.alias and _alnum(surface) != _alnum(candidate.alias):
                    continue
            window = None
            if candidate.ambiguous:
                window = text[max(0, start - CONTEXT_WINDOW) : end + CONTEXT_WINDOW]
                contexts = self._alias_contexts.get(
                    (candidate.entity, candidate.alias), self._contexts[candidate.entity]
                )
                if not _has_term(window, contexts):
                    continue
                if self._entities[candidate.entity].type == "weapon" and _followed_by_a_name(
                    norm, original, end, contexts
                ):
                    continue  # "Shahed Rahman", "Şahed Yılmaz": a person, not the drone
                if _with_article(norm, original, start + 1 + candidate.prefix, candidate.alias):
                    continue  # الرئيسي "the main", الشاهد "the witness": a word, not a name
            found = self._negatives_in(text, candidate.entity, present)
            if found and _negated(text, start, end, found):
                continue
            return candidate
        return None

    def _negatives_in(
        self, text: str, entity: int, present: dict[int, tuple[str, ...]]
    ) -> tuple[str, ...]:
        """The entity's negative terms that occur anywhere in ``text``, found once per text
        (``present`` is the per-text cache), so most hits skip the window search."""
        found = present.get(entity)
        if found is None:
            found = present[entity] = tuple(t for t in self._negatives[entity] if t in text)
        return found


def score(
    config: RelevanceConfig,
    entities: dict[str, Entity],
    mentions: list[Mention] | tuple[Mention, ...],
    title_counts: dict[str, int] | None = None,
    *,
    vetoed: bool = False,
) -> tuple[float, bool, str | None]:
    """Relevance score, on-topic verdict and the deciding rule for a set of mentions.

    Score = sum over entities of side weight x type weight x (1 + ln(n)), where n counts
    body hits plus ``title_weight`` per title hit. Rules are tried in order; when the text
    holds a veto context (sport, culture), only ``topic_specific`` rules may apply.
    """
    title_counts = title_counts or {}
    total = 0.0
    found = []
    for mention in mentions:
        entity = entities.get(mention.entity_id)
        if entity is None:
            continue
        found.append(entity)
        weight = config.side_weights.get(entity.side, 1.0) * config.type_weights.get(
            entity.type, 1.0
        )
        n = mention.count + config.title_weight * title_counts.get(entity.id, 0)
        total += weight * (1.0 + math.log(max(n, 1.0)))
    total = round(total, 3)
    return total, *_apply_rules(config, found, total, vetoed)


def _apply_rules(
    config: RelevanceConfig, found: list[Entity], total: float, vetoed: bool
) -> tuple[bool, str | None]:
    """(on_topic, rule name) for the entities found and their score, anywhere in the text
    (stored mentions keep no positions: proximity and cues are not checked here)."""
    topic_specific = any(entity.topic_specific for entity in found)
    for rule in config.rules:
        if rule.topic_specific and not topic_specific:
            continue
        if vetoed and not rule.topic_specific:
            continue
        if total < rule.min_score or not _rule_holds(rule, found):
            continue
        return True, rule.name
    return False, None


def _on_a_side(rule: RelevanceRule, entity: Entity) -> bool:
    """Whether the entity is on one of the rule's sides (any entity when it names none)."""
    return not rule.require_sides or any(entity.side in group for group in rule.require_sides)


def _rule_holds(rule: RelevanceRule, found: list[Entity]) -> bool:
    """The rule's side, type and count conditions over ``found``."""
    sides = {entity.side for entity in found}
    types = {entity.type for entity in found}
    return _holds(rule, sides, types, len(found))


def _holds(rule: RelevanceRule, sides: set[str], types: set[str], count: int) -> bool:
    if any(not sides.intersection(group) for group in rule.require_sides):
        return False
    if any(not types.intersection(group) for group in rule.require_types):
        return False
    return count >= rule.min_entities


def _mention_order(mention: Mention) -> tuple[bool, int, str]:
    return (mention.first_offset < 0, mention.first_offset, mention.entity_id)


def sentence_breaks(text: str) -> list[int]:
    """Offsets just after each sentence end (". ", "! ", "? ", "。", newline)."""
    return [match.end() for match in _SENTENCE_BREAK.finditer(text)]


def sentence_around(text: str, start: int, end: int, breaks: list[int] | None = None) -> str:
    """The sentence holding text[start:end], trimmed around it to at most 240 characters.

    ``breaks`` (from ``sentence_breaks``) saves the search when many snippets come from
    one text."""
    low, high = max(0, start - SNIPPET_MAX), min(len(text), end + SNIPPET_MAX)
    if breaks is None:
        left = low
        for match in _SENTENCE_BREAK.finditer(text, low, start):
            left = match.end()
        following = _SENTENCE_BREAK.search(text, end, high)
        right = following.end() if following else high
    else:
        slot = bisect_right(breaks, start)
        left = max(low, breaks[slot - 1]) if slot else low
        slot = bisect_left(breaks, end + 1)
        right = min(high, breaks[slot]) if slot < len(breaks) else high
    if right - left > SNIPPET_MAX:
        half = max(0, (SNIPPET_MAX - (end - start)) // 2)
        left = max(left, min(start - half, right - SNIPPET_MAX))
        right = min(right, left + SNIPPET_MAX)
    return " ".join(text[left:right].split())[:SNIPPET_MAX]


def _build_patterns(entities: tuple[Entity, ...]) -> dict[str, tuple[_Candidate, ...]]:
    """Every automaton key (boundary + normalised variant) and the candidates behind it."""
    patterns: dict[str, list[_Candidate]] = {}
    for index, entity in enumerate(entities):
        ambiguous = set(entity.ambiguous_aliases)
        surfaces = (
            [(entity.name, False)] if entity.name not in entity.case_sensitive_aliases else []
        )
        surfaces += [(alias, False) for alias in entity.aliases]
        surfaces += [(alias, True) for alias in entity.case_sensitive_aliases]
        languages: dict[str, set[str]] = {}
        for alias, language in entity.alias_languages:
            languages.setdefault(alias, set()).add(language)
        for alias, exact in surfaces:
            plural = not exact and entity.type not in _NO_PLURAL_TYPES
            forms = _with_hebrew_inner_form(alias_variants(alias))
            if "de" in languages.get(alias, ()):
                forms = _with_german_declension(forms)
            if entity.type == "country":
                forms = _with_arabic_adjective(forms)
            forms = _with_cyrillic_alternation(forms)
            for variant in forms:
                arabic = bool(_ARABIC_LETTER.search(variant))
                hebrew = not arabic and bool(_HEBREW_LETTER.search(variant))
                if arabic:
                    suffixes = ARABIC_SUFFIXES
                elif hebrew:  # not after a short name: סיני (Sinai) is not סין (China) + י
                    suffixes = HEBREW_SUFFIXES if len(variant) >= _HEBREW_MIN else frozenset()
                elif plural and _LATIN_OR_DIGIT.search(variant[-1:]):  # Gerans, Shahed-136s
                    suffixes = LATIN_PLURALS
                else:
                    suffixes = frozenset()
                if not (arabic or hebrew) and not exact:
                    for language in languages.get(alias, ()):
                        if language == "tr" and len(variant) < _TURKISH_MIN:
                            suffixes = suffixes | TURKISH_SHORT_SUFFIXES
                            continue
                        suffixes = suffixes | LANGUAGE_SUFFIXES.get(language, frozenset())
                if arabic:
                    prefixes: tuple[str, ...] = ("", *ARABIC_PREFIXES)
                elif hebrew:
                    prefixes = ("", *HEBREW_PREFIXES)
                else:
                    prefixes = ("",)
                bodies = [(len(prefix), prefix + variant) for prefix in prefixes]
                if hebrew and variant.startswith("ה") and len(variant) > 3:
                    # ב ל כ absorb the article: הכור -> לכור ("to the reactor"), הים הכספי ->
                    # בים הכספי; the name starts after the preposition
                    bodies += [(len(p), p + variant[1:]) for p in HEBREW_ABSORBING]
                for skip, body in bodies:
                    candidate = _Candidate(
                        index,
                        alias,
                        exact,
                        alias in ambiguous,
                        skip,
                        suffixes,
                        bool(entity.negative_contexts),
                    )
                    for lead in (SOFT, HARD):
                        bucket = patterns.setdefault(lead + body, [])
                        if candidate not in bucket:
                            bucket.append(candidate)
    # case-insensitive candidates first: they need no look at the original text
    return {
        key: tuple(sorted(candidates, key=lambda c: (c.case_sensitive, c.ambiguous)))
        for key, candidates in patterns.items()
    }


def _build_automaton(
    patterns: dict[str, tuple[_Candidate, ...]], cyrillic: bool, arabic: bool, hebrew: bool
) -> ahocorasick.Automaton:
    """The automaton for texts with the given scripts; values are (length, candidates,
    the first candidate when it needs no case or context check, flags)."""
    automaton = ahocorasick.Automaton()
    for key, candidates in patterns.items():
        if (
            (not cyrillic and _CYRILLIC_LETTER.search(key))
            or (not arabic and _ARABIC_LETTER.search(key))
            or (not hebrew and _HEBREW_LETTER.search(key))
        ):
            continue
        first = candidates[0]
        simple = not (first.case_sensitive or first.ambiguous)
        flags = (
            (_SUFFIXED if any(c.suffixes for c in candidates) else 0)
            | (_MULTI_TOKEN if SOFT in key[1:] or HARD in key[1:] else 0)
            | (_NEGATABLE if first.has_negatives else 0)
        )
        automaton.add_word(key, (len(key), candidates, first if simple else None, flags))
    automaton.make_automaton()
    return automaton


def alias_variants(alias: str) -> tuple[str, ...]:
    """Normalised spellings one alias stands for: as written, without apostrophes,
    without accents, and with a letter-digit space closed up (Shahed 136 / Shahed136)."""
    forms = {alias, _APOSTROPHES.sub("", alias), _strip_accents(alias)}
    variants = set()
    for form in forms:
        normalised = normalize_alias(form)
        if normalised:
            variants.add(normalised)
            variants.add(_LETTER_DIGIT.sub("", normalised))
    return tuple(sorted(variants))


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    if not any(unicodedata.category(char) == "Mn" for char in decomposed):
        return text
    # keep Cyrillic й/ё intact; only Latin letters lose their accents
    kept: list[str] = []
    for char in decomposed:
        if unicodedata.category(char) == "Mn" and kept and "a" <= kept[-1].lower() <= "z":
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _terms(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({normalize_alias(word) for word in words} - {""}))


def _context_terms(words: tuple[str, ...]) -> tuple[str, ...]:
    """Context or negative words, an Arabic-script one also with an attached proclitic and
    a Hebrew one with its prefixes, as the aliases are: لمسيّرات is مسيّرات "drones"
    with ل "for", בטניס is טניס "tennis" with ב "in"; a Hebrew word ending in a final
    letter also starts with the plain letter, as inside a longer word (issue 18)."""
    terms: set[str] = set()
    for term in _terms(words):
        if _HEBREW_LETTER.match(term):
            forms = [term]
            plain = term[-1].translate(_HEBREW_FINALS)
            if plain != term[-1]:
                # a word start with a final letter: רחפן "drone" also starts רחפנים, רחפני
                forms.append(term[:-1] + plain)
            terms.update(prefix + form for form in forms for prefix in ("", *HEBREW_PREFIXES))
        elif _ARABIC_LETTER.match(term):
            terms.update(prefix + term for prefix in ("", *ARABIC_PREFIXES))
        else:
            terms.add(term)
    return tuple(sorted(terms))


def _word_automaton(terms: tuple[str, ...]) -> ahocorasick.Automaton | None:
    """Whole-word finder for ``terms`` (a Latin plural s/es is allowed)."""
    if not terms:
        return None
    automaton = ahocorasick.Automaton()
    for term in terms:
        for lead in (SOFT, HARD):
            automaton.add_word(lead + term, len(term) + 1)
    automaton.make_automaton()
    return automaton


def _has_word(automaton: ahocorasick.Automaton | None, text: str) -> bool:
    if automaton is None:
        return False
    return any(
        _right_boundary_ok(text, last + 1, LATIN_PLURALS) for last, _ in automaton.iter(text)
    )


def _has_term(window: str, terms: tuple[str, ...]) -> bool:
    """A term counts when it starts a word (so 'football' also finds 'footballer')."""
    return any(SOFT + term in window or HARD + term in window for term in terms)


def _negated(text: str, start: int, end: int, negatives: tuple[str, ...]) -> bool:
    """True when a negative context cancels the hit text[start:end] (start = boundary).

    A negative term that contains the hit's own words is a phrase ("Russian roulette",
    "Moscow mule", "Richard Wagner") and cancels only where it overlaps the hit; any other
    term ("footballer", "opera") cancels when it is a whole word (plural allowed) within
    the context window, so "opera" does not cancel a hit next to "operation".
    """
    hit = text[start + 1 : end]
    window_start = max(0, start - CONTEXT_WINDOW)
    window = text[window_start : end + CONTEXT_WINDOW]
    for term in negatives:
        if hit not in term:
            if _word_in(window, term):
                return True
            continue
        found = window.find(term)
        while found >= 0:
            term_start = window_start + found
            if term_start <= start + 1 and term_start + len(term) >= end:
                return True
            found = window.find(term, found + 1)
    return False


def _word_in(window: str, term: str) -> bool:
    for lead in (SOFT, HARD):
        found = window.find(lead + term)
        while found >= 0:
            if _right_boundary_ok(window, found + 1 + len(term), LATIN_PLURALS):
                return True
            found = window.find(lead + term, found + 1)
    return False


def _right_boundary_ok(text: str, end: int, suffixes: frozenset[str]) -> bool:
    if end >= len(text) or text[end] in BOUNDARIES:
        return True
    if not suffixes:
        return False
    stop = end
    turkish = "lar" in suffixes  # only the Turkish sets hold it: chains are allowed
    longest = _TURKISH_CHAIN if turkish else 5
    while stop < len(text) and stop - end < longest and text[stop] not in BOUNDARIES:
        stop += 1
    if not (stop >= len(text) or text[stop] in BOUNDARIES):
        return False
    tail = text[end:stop]
    return tail in suffixes or (turkish and _chain_of(tail, suffixes, 3))


def _chain_of(tail: str, suffixes: frozenset[str], pieces: int) -> bool:
    """Whether ``tail`` is a run of at most ``pieces`` suffixes (lı + lar + la)."""
    if tail in suffixes:
        return True
    if pieces <= 1:
        return False
    return any(
        tail[:cut] in suffixes and _chain_of(tail[cut:], suffixes, pieces - 1)
        for cut in range(1, len(tail))
    )


def _alnum(text: str) -> str:
    return "".join(char for char in text if char.isalnum())


def _cue_automaton(
    cues: tuple[str, ...],
    words: tuple[str, ...] = (),
    weak: tuple[str, ...] = (),
    civilian: tuple[str, ...] = (),
    military: tuple[str, ...] = (),
) -> ahocorasick.Automaton | None:
    """Finder for the relation cues (word starts), relation words (whole words), weak
    cues, civilian context words and military cues (word starts; whole words when the term
    is also a relation word: "iha" is not "ihale", "arme" not "Armenien"); an Arabic-script term
    also with an attached proclitic, a Hebrew one with its prefixes. Values: (the term's
    length with its prefix, whole word, kind: _STRONG, _WEAK, _CIVILIAN or _MILITARY);
    a term in two lists keeps the later kind (military over the others)."""
    words_only = frozenset(_terms(words))  # also a relation word: whole words only
    terms = [(t, t in words_only, _STRONG) for t in _with_hebrew_inner_form(_terms(cues))]
    terms += [(term, True, _STRONG) for term in sorted(words_only)]
    terms += [(t, t in words_only, _WEAK) for t in _with_hebrew_inner_form(_terms(weak))]
    terms += [(t, t in words_only, _CIVILIAN) for t in _with_hebrew_inner_form(_terms(civilian))]
    terms += [(t, t in words_only, _MILITARY) for t in _with_hebrew_inner_form(_terms(military))]
    if not terms:
        return None
    automaton = ahocorasick.Automaton()
    for term, whole, kind in terms:
        if _ARABIC_LETTER.search(term):
            prefixes: tuple[str, ...] = ("", *ARABIC_PREFIXES)
        elif _HEBREW_LETTER.search(term):
            prefixes = ("", *HEBREW_PREFIXES)
        else:
            prefixes = ("",)
        for prefix in prefixes:
            for lead in (SOFT, HARD):
                key = lead + prefix + term
                automaton.add_word(key, (len(prefix) + len(term), whole, kind))
    automaton.make_automaton()
    return automaton


def _cue_spans(automaton: ahocorasick.Automaton | None, text: str) -> list[tuple[int, int, int]]:
    """Normalised [start, end) of each cue that starts a word of ``text``, and its kind."""
    if automaton is None:
        return []
    return [
        (last + 1 - length, last + 1, kind)
        for last, (length, whole, kind) in automaton.iter(text)
        if not whole or _right_boundary_ok(text, last + 1, LATIN_PLURALS)
    ]


def _word_at(text: str, start: int, end: int) -> str:
    """The whole word of the original text around [start, end) (the cue as written)."""
    while end < len(text) and (text[end].isalnum() or text[end] in "-'’"):
        end += 1
    return " ".join(text[start:end].split())[:40]


def _with_hebrew_inner_form(forms: tuple[str, ...]) -> tuple[str, ...]:
    """``forms`` plus, for each ending in a Hebrew final letter, the spelling with the
    letter's regular form (what an ending or a longer word is written with)."""
    extra = tuple(
        form[:-1] + form[-1].translate(_HEBREW_FINALS)
        for form in forms
        if form[-1:].translate(_HEBREW_FINALS) != form[-1:]
    )
    return forms + extra if extra else forms


def _with_arabic_adjective(forms: tuple[str, ...]) -> tuple[str, ...]:
    """``forms`` plus, for an Arabic country name ending in -يا (normalised -یا), its
    adjective stem without the final alif: أوكرانيا -> أوكراني, so أوكرانية and
    أوكرانيين match with the usual suffixes (روسيا -> روسي, سوريا -> سوري)."""
    extra = tuple(
        form[:-1]
        for form in forms
        if len(form) >= 5 and form.endswith("یا") and _ARABIC_LETTER.search(form)
    )
    return forms + extra if extra else forms


_GERMAN_ADJECTIVE = re.compile(r"^(.{3,}(?:isch|lich))(?:e|er|en|em|es)?$")
_GERMAN_ENDINGS = ("e", "er", "en", "em", "es")


def _with_german_declension(forms: tuple[str, ...]) -> tuple[str, ...]:
    """``forms`` plus, for a German alias whose words before the last are adjectives in
    -isch/-lich, every declension of them: "ukrainischer Geheimdienst" also as
    "ukrainischem Geheimdienst", "ukrainischen Geheimdienstes" (the last word's endings
    are the German suffixes), "Islamische Revolutionsgarde" as "Islamischen ..."."""
    extra: set[str] = set()
    for form in forms:
        words = form.split(SOFT)
        if len(words) < 2 or HARD in form:
            continue
        choices = []
        for word in words[:-1]:
            adjective = _GERMAN_ADJECTIVE.match(word)
            stem = adjective.group(1) if adjective else None
            choices.append([stem + ending for ending in _GERMAN_ENDINGS] if stem else [word])
        if all(len(options) == 1 for options in choices):
            continue
        variants = [""]
        for options in choices:
            variants = [f"{head}{option}{SOFT}" for head in variants for option in options]
        extra.update(head + words[-1] for head in variants)
    extra.difference_update(forms)
    return forms + tuple(sorted(extra)) if extra else forms


_ALTERNATION = {"г": "з", "к": "ц", "х": "с"}


def _with_cyrillic_alternation(forms: tuple[str, ...]) -> tuple[str, ...]:
    """``forms`` plus, for a Cyrillic stem ending in г, к or х, the stem with the
    consonant Ukrainian (and Russian dialect) writes before the dative/locative -і:
    Алабуга -> в Алабузі, розвідка -> у розвідці, Прага -> у Празі."""
    extra = tuple(
        form[:-1] + _ALTERNATION[form[-1]]
        for form in forms
        if len(form) >= 4 and form[-1] in _ALTERNATION and _CYRILLIC_LETTER.search(form)
    )
    return forms + extra if extra else forms


def _followed_by_a_name(
    norm: NormalizedText, original: str, end: int, contexts: tuple[str, ...]
) -> bool:
    """True when the hit ending at normalised ``end`` is followed, after one space, by a
    capitalised word of the original text that is not a context word: a name's second
    part (Shahed Rahman) rather than a noun it qualifies (Shahed drones, Shahed-Drohnen)."""
    text = norm.text
    if end >= len(text) or text[end] != SOFT:
        return False
    o_next = norm.to_original(end + 1)
    if o_next >= len(original) or not original[o_next].isupper():
        return False
    gap = original[norm.to_original(end - 1) + 1 : o_next]
    if not gap or "\n" in gap or gap.strip():
        return False  # Shahed-Drohnen (a compound), a word on the next line
    stop = end + 1
    while stop < len(text) and text[stop] not in BOUNDARIES:
        stop += 1
    word = original[o_next : norm.to_original(stop - 1) + 1]
    if word.isupper() or original[norm.to_original(end - 1)].isupper():
        return False  # capitals throughout (SHAHED IN KHARKIV) say nothing of a name
    return not _has_term(SOFT + text[end + 1 : stop], contexts)


def _inside(spans: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    """Whether [start, end) lies inside one of the sorted ``spans`` (a cue's boundary
    character may sit just before the name's first letter)."""
    if not spans:
        return False
    slot = bisect_right(spans, (start + 1, 1 << 62)) - 1
    return slot >= 0 and spans[slot][0] <= start + 1 and end <= spans[slot][1]


def _with_article(norm: NormalizedText, original: str, start: int, alias: str) -> bool:
    """True when an Arabic-script alias not written with the article ال is preceded by it in
    the original text (ال, or لل after the preposition ل): a name takes no article, so
    الرئيسي is the adjective "main", not Raisi (normalisation strips the article)."""
    if not _ARABIC_LETTER.search(alias) or alias.startswith("ال"):
        return False
    o_start = norm.to_original(start)
    return original[max(0, o_start - 2) : o_start] in ("ال", "لل")


def _word_starts(automaton: ahocorasick.Automaton | None, text: str) -> list[int]:
    """Where the whole words of ``_word_automaton`` start in ``text`` (their boundary)."""
    if automaton is None:
        return []
    return [
        last + 1 - length
        for last, length in automaton.iter(text)
        if _right_boundary_ok(text, last + 1, LATIN_PLURALS)
    ]
