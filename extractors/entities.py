"""The entity catalogue (``seeds/entities.toml``) and seed manifest: load and validate.

A bad file raises ``ConfigError`` naming the file, the line and the field. ``tomllib`` does
not report lines for values, so the line is found by searching the text for the entity's
``id = "..."`` line and then for the field inside that entity's table.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newswatch.core.errors import ConfigError
from newswatch.core.settings import DEFAULT_ENTITIES
from newswatch.extractors.normalize import normalize_alias
from newswatch.extractors.toml_lines import TomlLines, read_toml

ENTITY_TYPES = frozenset(
    {
        "country",
        "government",
        "organisation",
        "person",
        "weapon",
        "place",
        "agreement",
        "concept",
        "facility",
    }
)
SIDES = frozenset({"russia", "iran", "proxy", "western", "ukraine", "israel", "other"})
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REQUIRED = ("id", "type", "name", "side", "aliases", "seeds")
_LISTS = (
    "aliases",
    "case_sensitive_aliases",
    "ambiguous_aliases",
    "contexts",
    "negative_contexts",
    "seeds",
)
# Languages an alias can be tagged with (``aliases_by_language``); the tag chooses the
# matcher's inflection rules for it (German case endings, Turkish suffixes, Hebrew
# prefixes ...). Untagged aliases keep the language-neutral rules.
LANGUAGES = frozenset({"en", "ru", "uk", "fa", "ar", "de", "fr", "tr", "he"})
UNITS = frozenset({"text", "paragraph", "sentence"})
_ENTITY_KEYS = frozenset(
    {
        *_REQUIRED,
        *_LISTS,
        "topic_specific",
        "note",
        "aliases_by_language",
        "alias_contexts",
        "topic_contexts",
        "civilian",
    }
)
_RULE_KEYS = frozenset(
    {
        "name",
        "topic_specific",
        "require_sides",
        "require_types",
        "min_score",
        "min_entities",
        "within",
        "require_cue",
        "specific_types",
        "side_types",
        "bridges",
        "military_cue",
        "note",
    }
)
_RELEVANCE_KEYS = frozenset(
    {
        "title_weight",
        "side_weights",
        "type_weights",
        "rules",
        "veto_contexts",
        "relation_cues",
        "relation_words",
        "weak_relation_cues",
        "civilian_contexts",
        "military_cues",
    }
)


@dataclass(frozen=True)
class Entity:
    id: str
    type: str
    name: str
    side: str
    aliases: tuple[str, ...] = ()
    case_sensitive_aliases: tuple[str, ...] = ()  # matched only with this exact case
    ambiguous_aliases: tuple[str, ...] = ()  # count only with one of `contexts` nearby
    contexts: tuple[str, ...] = ()
    negative_contexts: tuple[str, ...] = ()  # near a hit, cancel it
    seeds: tuple[str, ...] = ()  # seed ids it came from; empty = added on review
    topic_specific: bool = False  # alone enough to make an article on-topic
    note: str = ""
    # (alias, language) for the aliases given under ``aliases_by_language`` (they are in
    # ``aliases`` too); the language chooses the matcher's inflection rules
    alias_languages: tuple[tuple[str, str], ...] = ()
    # (ambiguous alias, its own context words): for an alias that is also a common word
    # or a first name in its language (Persian/Arabic شاهد: "witness", "watch!", a name),
    # these replace ``contexts`` for that alias (drone words, not "Russia")
    alias_contexts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # word starts that make the entity topic-specific where one is near a hit (within the
    # context window): the town of Yelabuga beside "drone plant", not beside "museum"
    topic_contexts: tuple[str, ...] = ()
    # a civilian installation (a nuclear power plant): named beside a weak cue, or a cue
    # in a civilian story ("reactor fuel"), it is no evidence of military cooperation
    civilian: bool = False


@dataclass(frozen=True)
class RelevanceRule:
    """All conditions given must hold; rules are tried in order, the first that holds wins."""

    name: str
    topic_specific: bool = False
    require_sides: tuple[tuple[str, ...], ...] = ()  # each group: one entity of these sides
    require_types: tuple[tuple[str, ...], ...] = ()  # each group: one entity of these types
    min_score: float = 0.0
    min_entities: int = 0
    # "sentence" / "paragraph": the required sides (and types) must all be found inside
    # one sentence / paragraph of the text (the title is a unit of its own); "text": anywhere
    within: str = "text"
    require_cue: bool = False  # a relation cue (supply, train, jointly ...) in that unit
    # at least one entity of these types in that unit (the evidence is not only
    # countries, governments and capitals); empty: no such condition
    specific_types: tuple[str, ...] = ()
    # only entities of these types count toward require_sides / require_types in the unit
    # (both sides specific: an organisation and a weapon, not two capitals); empty: all
    side_types: tuple[str, ...] = ()
    # entity ids that tie the sides together (a ghost fleet, sanctions evasion): the rule
    # holds when each required side shares a unit (sentence / paragraph) with one of them,
    # in different units or the same ("the shadow fleet carries Russian crude ... grew out
    # of a playbook first used for Iranian oil"); empty: no such rule
    bridges: tuple[str, ...] = ()
    # the unit must hold one of ``military_cues`` (drone, missile, instructor ...), not
    # just any relation cue (talks, a visit, a deal)
    military_cue: bool = False
    note: str = ""


@dataclass(frozen=True)
class RelevanceConfig:
    title_weight: float = 2.0
    side_weights: Mapping[str, float] = field(default_factory=dict)
    type_weights: Mapping[str, float] = field(default_factory=dict)
    rules: tuple[RelevanceRule, ...] = ()
    # Word starts that say two sides act together (supply, deliver, train, sanction ...),
    # in every language covered; a rule with ``require_cue`` needs one in its unit.
    relation_cues: tuple[str, ...] = ()
    # Cues that count only as whole words (a Latin plural -s allowed): "met" (not "metal")
    relation_words: tuple[str, ...] = ()
    # Cues that count only beside an entity more specific than a country, government or
    # place ("jointly", "sanctions": votes and oil news join Russia and Iran with them too)
    weak_relation_cues: tuple[str, ...] = ()
    # Word starts of civilian stories (wheat, students, research, earthquakes, fisheries):
    # in a unit holding one and none of ``military_cues``, every cue counts as weak, so a
    # grain deal or a joint study "with" Russia and Iran needs a specific entity too.
    civilian_contexts: tuple[str, ...] = ()
    # Word starts that keep a unit military beside a civilian word (weapon, drone, shell);
    # they are relation cues too.
    military_cues: tuple[str, ...] = ()
    # Words that mark sport, culture and the like: when one starts a word in the text (or
    # title), rules that are not `topic_specific` do not apply ("Iran beat Russia 3-1").
    veto_contexts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    version: str  # sha256 of the file content
    entities: tuple[Entity, ...]
    relevance: RelevanceConfig
    path: str = ""

    def by_id(self) -> dict[str, Entity]:
        return {entity.id: entity for entity in self.entities}


@dataclass(frozen=True)
class SeedDocument:
    id: str  # file name stem
    outlet: str
    date: str  # ISO date; see `date_note` when inferred
    title: str
    date_note: str = ""
    url: str = ""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate the catalogue; raise ``ConfigError`` on the first problem."""
    path = Path(path) if path is not None else DEFAULT_ENTITIES
    raw, lines = read_toml(path, "the entity catalogue")
    where = _Locator(path, lines)
    manifest_path = path.parent / "manifest.toml"
    known_seeds = (
        {seed.id for seed in load_manifest(manifest_path)} if manifest_path.is_file() else None
    )
    unknown = set(raw) - {"relevance", "entity"}
    if unknown:
        key = sorted(unknown)[0]
        raise where.error(f"unknown top-level key {key!r}", key=key)
    entries = raw.get("entity")
    if not isinstance(entries, list) or not entries:
        raise where.error("no [[entity]] tables", key="entity")
    entities = tuple(_entity(entry, n, where, known_seeds) for n, entry in enumerate(entries))
    _check_unique(entities, where)
    relevance = _relevance(raw.get("relevance", {}), where)
    ids = {entity.id for entity in entities}
    for rule in relevance.rules:
        unknown_bridges = sorted(set(rule.bridges) - ids)
        if unknown_bridges:
            raise where.error(
                f"rule {rule.name!r}: bridges names no entity {unknown_bridges[0]!r}",
                key="relevance",
            )
    version = hashlib.sha256(path.read_bytes()).hexdigest()
    return Catalogue(version=version, entities=entities, relevance=relevance, path=str(path))


def load_manifest(path: Path) -> tuple[SeedDocument, ...]:
    raw, lines = read_toml(path, "the seed manifest")
    where = _Locator(path, lines)
    seeds = raw.get("seed")
    if not isinstance(seeds, list):
        raise where.error("expected [[seed]] tables", key="seed")
    out = []
    allowed = {"id", "outlet", "date", "title", "date_note", "url"}
    for entry in seeds:
        entry_id = entry.get("id")
        for key in ("id", "outlet", "date", "title"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise where.error(f"{key} must be a non-empty string", entry_id, key)
        extra = set(entry) - allowed
        if extra:
            key = sorted(extra)[0]
            raise where.error(f"unknown key {key!r}", entry_id, key)
        out.append(SeedDocument(**entry))
    return tuple(out)


class _Locator:
    """Turns a problem with an entity/field into a ConfigError naming file, line, field."""

    def __init__(self, path: Path, lines: TomlLines) -> None:
        self.path = path
        self.lines = lines

    def line_of(self, entity_id: object = None, key: str | None = None, nth: int = -1) -> int:
        """The line of ``key`` in the table whose ``id`` is ``entity_id`` (else the
        ``nth`` ``[[entity]]``), else of that table's id or header, else of a top-level key."""
        start = 1
        if isinstance(entity_id, str):
            id_line = re.compile(rf"""^\s*id\s*=\s*["']{re.escape(entity_id)}["']""")
            start = self.lines.first(id_line) or 1
        elif nth >= 0:
            start = self.lines.table_line("entity", nth)
        if key is None:
            return start
        return self.lines.key_line(key, self.lines.table_start(start)) or start

    def error(
        self, message: str, entity_id: object = None, key: str | None = None, nth: int = -1
    ) -> ConfigError:
        line = self.line_of(entity_id, key, nth)
        label = f" entity {entity_id!r}" if isinstance(entity_id, str) else ""
        field_name = f" field {key!r}" if key else ""
        return ConfigError(f"{self.path}:{line}:{label}{field_name}: {message}")


def _entity(
    entry: dict[str, Any], nth: int, where: _Locator, known_seeds: set[str] | None
) -> Entity:
    entity_id = entry.get("id")

    def fail(message: str, key: str) -> ConfigError:
        return where.error(message, entity_id, key, nth)

    for key in _REQUIRED:
        if key not in entry:
            raise fail("missing required field", key)
    extra = set(entry) - _ENTITY_KEYS
    if extra:
        key = sorted(extra)[0]
        raise fail(f"unknown field (allowed: {', '.join(sorted(_ENTITY_KEYS))})", key)
    if not isinstance(entity_id, str) or not _ID.match(entity_id):
        raise fail("id must be a lower-case slug like 'shahed-136'", "id")
    for key in ("type", "name", "side"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise fail("must be a non-empty string", key)
    if entry["type"] not in ENTITY_TYPES:
        raise fail(f"unknown type {entry['type']!r} (one of {sorted(ENTITY_TYPES)})", "type")
    if entry["side"] not in SIDES:
        raise fail(f"unknown side {entry['side']!r} (one of {sorted(SIDES)})", "side")
    lists: dict[str, tuple[str, ...]] = {}
    for key in _LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise fail("must be a list of strings", key)
        for item in value:
            if not item.strip() or (key != "seeds" and not normalize_alias(item)):
                raise fail(f"empty or punctuation-only entry {item!r}", key)
        lists[key] = tuple(value)
    for flag in ("topic_specific", "civilian"):
        if not isinstance(entry.get(flag, False), bool):
            raise fail("must be true or false", flag)
    if not isinstance(entry.get("note", ""), str):
        raise fail("must be a string", "note")
    by_language = entry.get("aliases_by_language", {})
    if not isinstance(by_language, dict):
        raise fail("must be a table of language = [aliases]", "aliases_by_language")
    tagged: list[tuple[str, str]] = []
    for language, items in by_language.items():
        if language not in LANGUAGES:
            raise fail(
                f"unknown language {language!r} (one of {sorted(LANGUAGES)})",
                "aliases_by_language",
            )
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise fail(f"{language}: must be a list of strings", "aliases_by_language")
        for item in items:
            if not item.strip() or not normalize_alias(item):
                raise fail(f"empty or punctuation-only entry {item!r}", "aliases_by_language")
            tagged.append((item, language))
    if tagged:
        listed = set(lists["aliases"])
        added = [alias for alias, _ in tagged if alias not in listed]
        lists["aliases"] = lists["aliases"] + tuple(dict.fromkeys(added))
    names = {entry["name"], *lists["aliases"], *lists["case_sensitive_aliases"]}
    names.update(alias for alias, _ in tagged)
    stray = [alias for alias in lists["ambiguous_aliases"] if alias not in names]
    if stray:
        raise fail(f"{stray[0]!r} is not one of the entity's aliases", "ambiguous_aliases")
    if lists["ambiguous_aliases"] and not lists["contexts"]:
        raise fail("ambiguous aliases need at least one context word", "contexts")
    alias_contexts = entry.get("alias_contexts", {})
    if not isinstance(alias_contexts, dict):
        raise fail("must be a table of alias = [context words]", "alias_contexts")
    own: list[tuple[str, tuple[str, ...]]] = []
    for alias, words in alias_contexts.items():
        if alias not in lists["ambiguous_aliases"]:
            raise fail(f"{alias!r} is not one of the entity's ambiguous aliases", "alias_contexts")
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) and normalize_alias(w) for w in words)
        ):
            raise fail(f"{alias!r}: must be a non-empty list of words", "alias_contexts")
        own.append((alias, tuple(words)))
    topic_contexts = entry.get("topic_contexts", [])
    if not isinstance(topic_contexts, list) or not all(
        isinstance(w, str) and normalize_alias(w) for w in topic_contexts
    ):
        raise fail("must be a list of non-empty words", "topic_contexts")
    if topic_contexts and entry.get("topic_specific", False):
        raise fail("a topic-specific entity needs no topic contexts", "topic_contexts")
    if known_seeds is not None:
        missing = [seed for seed in lists["seeds"] if seed not in known_seeds]
        if missing:
            raise fail(f"seed {missing[0]!r} is not in manifest.toml", "seeds")
    return Entity(
        id=entity_id,
        type=entry["type"],
        name=entry["name"].strip(),
        side=entry["side"],
        topic_specific=entry.get("topic_specific", False),
        note=entry.get("note", ""),
        alias_languages=tuple(tagged),
        alias_contexts=tuple(own),
        topic_contexts=tuple(topic_contexts),
        civilian=entry.get("civilian", False),
        **lists,
    )


def _check_unique(entities: Sequence[Entity], where: _Locator) -> None:
    seen_ids: set[str] = set()
    owner: dict[tuple[str, bool], str] = {}
    for entity in entities:
        if entity.id in seen_ids:
            raise where.error("duplicate id", entity.id, "id")
        seen_ids.add(entity.id)
        surfaces = [(entity.name, False), *((alias, False) for alias in entity.aliases)]
        surfaces += [(alias, True) for alias in entity.case_sensitive_aliases]
        for alias, exact in surfaces:
            key = (alias if exact else normalize_alias(alias), exact)
            other = owner.setdefault(key, entity.id)
            if other != entity.id:
                field_name = "case_sensitive_aliases" if exact else "aliases"
                raise where.error(
                    f"alias {alias!r} also belongs to entity {other!r}", entity.id, field_name
                )


def _relevance(raw: object, where: _Locator) -> RelevanceConfig:
    def fail(message: str, key: str) -> ConfigError:
        key_line = re.compile(rf"^\s*(?:\[+\s*)?(?:relevance\.)?{re.escape(key)}\b")
        line = where.lines.first(key_line) or 1
        return ConfigError(f"{where.path}:{line}: field {key!r}: {message}")

    if not isinstance(raw, dict):
        raise fail("must be a table", "relevance")
    extra = set(raw) - _RELEVANCE_KEYS
    if extra:
        raise fail("unknown field", sorted(extra)[0])
    weights: dict[str, dict[str, float]] = {}
    for key, allowed in (("side_weights", SIDES), ("type_weights", ENTITY_TYPES)):
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise fail("must be a table of numbers", key)
        for name, value in table.items():
            if name not in allowed:
                raise fail(f"unknown {key[:-8]} {name!r}", key)
            if not isinstance(value, int | float) or value < 0:
                raise fail(f"weight for {name!r} must be a number >= 0", key)
        weights[key] = {name: float(value) for name, value in table.items()}
    title_weight = raw.get("title_weight", 2.0)
    if not isinstance(title_weight, int | float) or title_weight < 0:
        raise fail("must be a number >= 0", "title_weight")
    rules = []
    for rule in raw.get("rules", []):
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str):
            raise fail("each rule needs a name", "rules")
        extra = set(rule) - _RULE_KEYS
        if extra:
            raise fail(f"rule {rule['name']!r}: unknown key {sorted(extra)[0]!r}", "rules")
        groups = rule.get("require_sides", [])
        if not isinstance(groups, list) or not all(
            isinstance(group, list) and group and set(group) <= SIDES for group in groups
        ):
            raise fail(f"rule {rule['name']!r}: require_sides must be lists of sides", "rules")
        type_groups = rule.get("require_types", [])
        if not isinstance(type_groups, list) or not all(
            isinstance(group, list) and group and set(group) <= ENTITY_TYPES
            for group in type_groups
        ):
            raise fail(f"rule {rule['name']!r}: require_types must be lists of types", "rules")
        within = rule.get("within", "text")
        if within not in UNITS:
            raise fail(f"rule {rule['name']!r}: within must be one of {sorted(UNITS)}", "rules")
        specific = rule.get("specific_types", [])
        side_types = rule.get("side_types", [])
        for key, value in (("specific_types", specific), ("side_types", side_types)):
            if not isinstance(value, list) or not set(value) <= ENTITY_TYPES:
                raise fail(f"rule {rule['name']!r}: {key} must be entity types", "rules")
        bridges = rule.get("bridges", [])
        if not isinstance(bridges, list) or not all(isinstance(b, str) for b in bridges):
            raise fail(f"rule {rule['name']!r}: bridges must be entity ids", "rules")
        if bridges and within == "text":
            raise fail(f"rule {rule['name']!r}: bridges need within = sentence/paragraph", "rules")
        rules.append(
            RelevanceRule(
                name=rule["name"],
                topic_specific=bool(rule.get("topic_specific", False)),
                require_sides=tuple(tuple(group) for group in groups),
                require_types=tuple(tuple(group) for group in type_groups),
                min_score=float(rule.get("min_score", 0.0)),
                min_entities=int(rule.get("min_entities", 0)),
                within=within,
                require_cue=bool(rule.get("require_cue", False)),
                specific_types=tuple(specific),
                side_types=tuple(side_types),
                bridges=tuple(bridges),
                military_cue=bool(rule.get("military_cue", False)),
                note=str(rule.get("note", "")),
            )
        )
    if not rules:
        raise fail("at least one [[relevance.rules]] table is needed", "rules")
    veto = raw.get("veto_contexts", [])
    if not isinstance(veto, list) or not all(isinstance(w, str) and w.strip() for w in veto):
        raise fail("must be a list of non-empty strings", "veto_contexts")
    cues = raw.get("relation_cues", [])
    if not isinstance(cues, list) or not all(isinstance(w, str) and w.strip() for w in cues):
        raise fail("must be a list of non-empty strings", "relation_cues")
    words = raw.get("relation_words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
        raise fail("must be a list of non-empty strings", "relation_words")
    weak = raw.get("weak_relation_cues", [])
    if not isinstance(weak, list) or not all(isinstance(w, str) and w.strip() for w in weak):
        raise fail("must be a list of non-empty strings", "weak_relation_cues")
    civilian = raw.get("civilian_contexts", [])
    if not isinstance(civilian, list) or not all(
        isinstance(w, str) and w.strip() for w in civilian
    ):
        raise fail("must be a list of non-empty strings", "civilian_contexts")
    military = raw.get("military_cues", [])
    if not isinstance(military, list) or not all(
        isinstance(w, str) and w.strip() for w in military
    ):
        raise fail("must be a list of non-empty strings", "military_cues")
    needs_military = [rule.name for rule in rules if rule.military_cue]
    if needs_military and not military:
        raise fail(
            f"rule {needs_military[0]!r} needs a military cue but none is listed", "military_cues"
        )
    needs_cue = [rule.name for rule in rules if rule.require_cue]
    if needs_cue and not (cues or words):
        raise fail(f"rule {needs_cue[0]!r} requires a cue but none is listed", "relation_cues")
    return RelevanceConfig(
        title_weight=float(title_weight),
        side_weights=weights["side_weights"],
        type_weights=weights["type_weights"],
        rules=tuple(rules),
        veto_contexts=tuple(veto),
        relation_cues=tuple(cues),
        relation_words=tuple(words),
        weak_relation_cues=tuple(weak),
        civilian_contexts=tuple(civilian),
        military_cues=tuple(military),
    )
