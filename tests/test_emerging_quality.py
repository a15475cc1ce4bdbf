"""Emerging terms worth reading (issue 18 item 4): on the bundled sample's real pages, no
top term is a catalogue name or a piece of one, a country, a continent or a water body."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.core.settings import SEEDS_DIR
from newswatch.extractors.emerging import emerging_terms
from newswatch.extractors.entities import Catalogue, load_catalogue
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.normalize import normalize_alias
from newswatch.extractors.pages import extract_article

SITE = Path(SEEDS_DIR) / "sample" / "site"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def sample_on_topic(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(outlet, text) of every on-topic sample page, extracted as an ingest run does."""
    matcher = Matcher(catalogue)
    docs = []
    for page in sorted(SITE.rglob("*.html")):
        if page.name == "index.html":
            continue
        url = f"https://sample.invalid/{page.relative_to(SITE)}"
        article = extract_article(page.read_bytes(), url=url)
        if article.text and matcher.match(article.text, title=article.title).on_topic:
            docs.append((page.relative_to(SITE).parts[0], article.text))
    return docs


def test_sample_top_terms_are_no_catalogue_names_countries_or_seas(catalogue: Catalogue) -> None:
    docs = sample_on_topic(catalogue)
    assert len(docs) >= 30
    top = [term.term for term in emerging_terms(docs, catalogue)[:20]]
    assert len(top) == 20
    spellings = {
        normalize_alias(alias)
        for entity in catalogue.entities
        for alias in (entity.name, *entity.aliases, *entity.case_sensitive_aliases)
    }
    for term in top:
        key = normalize_alias(term)
        assert not any(
            key in alias.split("\x00") or f" {key} " in f" {alias} " for alias in spellings
        ), term
    geography = {"Gulf", "Europe", "Asia", "Africa", "Volga", "Black Sea", "Suez Canal", "Jordan"}
    assert not geography & set(top)
    assert not {"International North", "South Transport Corridor", "Rasht", "Astara"} & set(top)


def test_a_name_split_at_an_en_dash_is_one_known_name(catalogue: Catalogue) -> None:
    text = (
        "Cargo moved along the International North–South Transport Corridor again. "
        "Analysts at the Kavir Institute expect more."
    )
    terms = [term.term for term in emerging_terms([("Wire", text)], catalogue)]
    assert "Kavir Institute" in terms
    assert not any("North" in term or "Transport" in term for term in terms), terms


def test_countries_in_other_languages_and_compass_words_are_not_new(
    catalogue: Catalogue,
) -> None:
    text = (
        "Officials from Kazakhstan and Deutschland met in the South. "
        "The Baltic route and the Kama River were named; the Tavan Works were too."
    )
    terms = [term.term for term in emerging_terms([("Wire", text)], catalogue)]
    assert "Tavan Works" in terms
    assert not {"Kazakhstan", "Deutschland", "South", "Baltic", "Kama River"} & set(terms)
