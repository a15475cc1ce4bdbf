"""Entity catalogue and seed manifest: shipped files load; broken ones name file, line, field."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from newswatch.core.errors import ConfigError
from newswatch.core.settings import DEFAULT_ENTITIES, SEEDS_DIR
from newswatch.extractors.entities import load_catalogue, load_manifest

VALID = """\
[relevance]
side_weights = { russia = 1.0 }

[[relevance.rules]]
name = "topic_specific"
topic_specific = true

[[entity]]
id = "shahed-136"
type = "weapon"
name = "Shahed-136"
side = "iran"
aliases = ["Shahed 136"]
seeds = []

[[entity]]
id = "hezbollah"
type = "organisation"
name = "Hezbollah"
side = "proxy"
aliases = ["Hizbullah"]
seeds = []
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "entities.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_catalogue_has_120_entities_with_seed_provenance() -> None:
    catalogue = load_catalogue()
    from_seeds = [entity for entity in catalogue.entities if entity.seeds]
    assert len(catalogue.entities) >= 120
    assert len(from_seeds) >= 120
    assert catalogue.version == hashlib.sha256(DEFAULT_ENTITIES.read_bytes()).hexdigest()
    assert {"shahed-136", "irgc", "alabuga-sez", "hezbollah", "houthis"} <= set(catalogue.by_id())


def test_shipped_catalogue_has_other_scripts_for_the_core_entities() -> None:
    by_id = load_catalogue().by_id()
    for entity_id in ("russia", "iran", "shahed-136", "geran-2", "irgc", "hezbollah", "houthis"):
        aliases = " ".join(by_id[entity_id].aliases)
        assert re.search("[а-яіїє]", aliases, re.IGNORECASE), entity_id
        assert re.search("[\u0600-\u06ff]", aliases), entity_id


def test_shipped_catalogue_tags_aliases_in_the_four_added_languages() -> None:
    by_id = load_catalogue().by_id()
    core = ("russia", "iran", "ukraine", "irgc", "shahed-136", "russian-government", "hezbollah")
    for entity_id in core:
        languages = {language for _, language in by_id[entity_id].alias_languages}
        assert {"de", "fr", "tr", "he"} <= languages, entity_id
    for entity_id in ("makhachkala", "bandar-anzali", "amirabad", "olya", "ofac", "us-treasury"):
        entity = by_id[entity_id]
        assert entity.note.startswith("added on review (issue 18)"), entity_id


def test_language_aliases_load_tagged_and_matchable(tmp_path: Path) -> None:
    text = VALID.replace(
        'aliases = ["Hizbullah"]',
        'aliases = ["Hizbullah"]\naliases_by_language = { de = ["Hisbollah"], he = ["חיזבאללה"] }',
    )
    hezbollah = load_catalogue(write(tmp_path, text)).by_id()["hezbollah"]
    assert hezbollah.aliases == ("Hizbullah", "Hisbollah", "חיזבאללה")
    assert hezbollah.alias_languages == (("Hisbollah", "de"), ("חיזבאללה", "he"))


def test_manifest_lists_every_seed_file(shared_dir: Path) -> None:
    seeds = load_manifest(SEEDS_DIR / "manifest.toml")
    assert {seed.id for seed in seeds} == {
        path.stem for path in (shared_dir / "seeds").glob("*.txt")
    }
    assert all(
        seed.outlet and seed.title and re.match(r"\d{4}-\d\d-\d\d$", seed.date) for seed in seeds
    )


def test_valid_minimal_catalogue_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write(tmp_path, VALID))
    assert [entity.id for entity in catalogue.entities] == ["shahed-136", "hezbollah"]
    assert catalogue.relevance.rules[0].name == "topic_specific"


def test_a_bridge_rule_names_catalogue_entities_within_a_unit(tmp_path: Path) -> None:
    rule = '[[relevance.rules]]\nname = "bridged"\nwithin = "sentence"\n'
    good = VALID.replace("[[entity]]", rule + 'bridges = ["hezbollah"]\n\n[[entity]]', 1)
    assert load_catalogue(write(tmp_path, good)).relevance.rules[1].bridges == ("hezbollah",)
    unknown = VALID.replace("[[entity]]", rule + 'bridges = ["nobody"]\n\n[[entity]]', 1)
    with pytest.raises(ConfigError, match="bridges names no entity 'nobody'"):
        load_catalogue(write(tmp_path, unknown))
    anywhere = good.replace('within = "sentence"', 'within = "text"')
    with pytest.raises(ConfigError, match="bridges need within"):
        load_catalogue(write(tmp_path, anywhere))


BROKEN = [
    # (description, replace this, with this, field named, line containing)
    ("unknown type", 'type = "weapon"', 'type = "gadget"', "type", 'type = "gadget"'),
    ("unknown side", 'side = "proxy"', 'side = "nowhere"', "side", 'side = "nowhere"'),
    (
        "empty alias",
        'aliases = ["Hizbullah"]',
        'aliases = ["Hizbullah", " "]',
        "aliases",
        "Hizbullah",
    ),
    ("punctuation alias", 'aliases = ["Shahed 136"]', 'aliases = ["--"]', "aliases", '"--"'),
    (
        "unknown field",
        'seeds = []\n\n[[entity]]\nid = "hez',
        'seeds = []\ncolour = "red"\n\n[[entity]]\nid = "hez',
        "colour",
        "colour",
    ),
    ("duplicate id", 'id = "hezbollah"', 'id = "shahed-136"', "id", 'id = "shahed-136"'),
    ("bad slug", 'id = "hezbollah"', 'id = "Hez Bollah"', "id", "Hez Bollah"),
    (
        "alias owned twice",
        'aliases = ["Hizbullah"]',
        'aliases = ["shahed-136"]',
        "aliases",
        '"shahed-136"]',
    ),
    ("missing field", 'name = "Hezbollah"\n', "", "name", 'id = "hezbollah"'),
    (
        "stray ambiguous alias",
        'aliases = ["Hizbullah"]',
        'aliases = ["Hizbullah"]\nambiguous_aliases = ["Hizb"]\ncontexts = ["x"]',
        "ambiguous_aliases",
        "ambiguous_aliases",
    ),
    (
        "ambiguous without contexts",
        'aliases = ["Hizbullah"]',
        'aliases = ["Hizbullah"]\nambiguous_aliases = ["Hizbullah"]',
        "contexts",
        'id = "hezbollah"',
    ),
    (
        "unknown alias language",
        'aliases = ["Hizbullah"]',
        'aliases = ["Hizbullah"]\naliases_by_language = { xx = ["Hisbollah"] }',
        "aliases_by_language",
        "aliases_by_language",
    ),
    (
        "rule unit",
        'topic_specific = true\n\n[[entity]]\nid = "shahed',
        'topic_specific = true\nwithin = "page"\n\n[[entity]]\nid = "shahed',
        "rules",
        "[[relevance.rules]]",
    ),
    (
        "cue rule without cues",
        'topic_specific = true\n\n[[entity]]\nid = "shahed',
        'topic_specific = true\nrequire_cue = true\n\n[[entity]]\nid = "shahed',
        "relation_cues",
        "[relevance]",
    ),
    (
        "relevance side",
        "side_weights = { russia = 1.0 }",
        "side_weights = { mars = 1.0 }",
        "side_weights",
        "mars",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "line_text"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_catalogue_error_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, line_text: str
) -> None:
    assert old in VALID
    text = VALID.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line_of(text, line_text)}:"), message
    assert repr(field) in message


def test_toml_syntax_error_names_its_line(tmp_path: Path) -> None:
    text = VALID.replace('name = "Hezbollah"', 'name = "Hezbollah')
    path = write(tmp_path, text)
    line = line_of(text, 'name = "Hezbollah')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:{line}:"):
        load_catalogue(path)


def test_seed_ids_are_checked_against_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.toml").write_text(
        '[[seed]]\nid = "seed-a"\noutlet = "X"\ndate = "2024-01-01"\ntitle = "T"\n'
    )
    text = VALID.replace(
        'aliases = ["Hizbullah"]\nseeds = []', 'aliases = ["Hizbullah"]\nseeds = ["seed-b"]'
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"'seeds'.*seed-b") as caught:
        load_catalogue(path)
    assert f":{line_of(text, 'seed-b')}:" in str(caught.value)
