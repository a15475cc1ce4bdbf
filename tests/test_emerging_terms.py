"""Emerging terms: picked from a run's on-topic articles, stored with the batch, listed by
``newswatch entities emerging`` ranked by outlet spread, frequency and growth."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.extractors.emerging import emerging_term_records, emerging_terms
from newswatch.extractors.entities import load_catalogue
from newswatch.extractors.matcher import Matcher
from tests.trust_helpers import SEEN_AT, load_batch, matched_batch

ON_TOPIC = (
    "Drones for Russia",
    "Shahed-136 drones built at Alabuga now carry a Kavir-9 warhead, engineers say. "
    "Engineers from the Pardis Bureau visited Tatarstan.",
)
OFF_TOPIC = ("Harvest", "Farmers near Kavir-9 Valley praised the Pardis Bureau harvest.")


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return load_catalogue()


def test_terms_come_from_on_topic_articles_only(catalogue) -> None:  # type: ignore[no-untyped-def]
    batch = matched_batch([ON_TOPIC, OFF_TOPIC], catalogue)
    assert [a.on_topic for a in batch.articles] == [True, False]
    records = emerging_term_records(batch.articles, catalogue, "run-1", SEEN_AT)
    terms = {r.term: r for r in records}
    assert "Kavir-9" in terms and "Pardis Bureau" in terms
    assert terms["Kavir-9"].count == 1  # the off-topic article's use is not counted
    assert terms["Kavir-9"].outlet_names == ("Wire Service",)
    assert not {"Shahed-136", "Alabuga", "Tatarstan"} & set(terms)  # catalogue names
    assert "Engineers" not in terms  # a sentence start, written lower-case elsewhere


def test_no_on_topic_article_gives_no_terms(catalogue) -> None:  # type: ignore[no-untyped-def]
    batch = matched_batch([OFF_TOPIC], catalogue)
    assert emerging_term_records(batch.articles, catalogue, "run-1", SEEN_AT) == []


def test_stored_terms_are_listed_by_spread_then_frequency_with_growth(
    tmp_path: Path,
    catalogue,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    db_path = tmp_path / "nw.duckdb"
    for week, run_id in enumerate(("run-1", "run-2")):
        seen = SEEN_AT + timedelta(days=8 * week)
        batch = matched_batch([ON_TOPIC] * (1 + week), catalogue, run_id=run_id)
        batch = replace(
            batch,
            articles=tuple(
                replace(
                    a,
                    article_id=f"{run_id}-{i}",
                    url=f"https://x/{run_id}/{i}",
                    canonical_url=f"https://x/{run_id}/{i}",
                    outlet=f"Outlet {i}",
                )
                for i, a in enumerate(batch.articles)
            ),
            mentions=(),
        )
        terms = emerging_term_records(batch.articles, catalogue, run_id, seen)
        load_batch(replace(batch, emerging_terms=tuple(terms)), db_path)

    assert main(["entities", "emerging", "--db", str(db_path), "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_term = {row["term"]: row for row in rows}
    kavir = by_term["Kavir-9"]
    assert kavir["count"] == 3 and kavir["runs"] == 2 and kavir["outlets"] == 2
    assert kavir["recent"] == 2 and kavir["previous"] == 1 and kavir["growth"] == 1.5
    assert kavir["outlet_names"] == ["Outlet 0", "Outlet 1"]
    spreads = [row["outlets"] for row in rows]
    assert spreads == sorted(spreads, reverse=True)

    assert main(["entities", "emerging", "--db", str(db_path), "--limit", "1"]) == 0
    table = capsys.readouterr().out
    assert "rank" in table and len([ln for ln in table.splitlines() if ln[:4].strip()]) == 2


def test_a_catalogue_name_ending_a_text_is_matched_not_emerging(catalogue) -> None:  # type: ignore[no-untyped-def]
    # pyahocorasick's iter_long dropped a match ending the input when a longer key
    # ("... Guard Corps (IRGC)") shares its prefix; the matcher appends a sentinel
    text = "The drones were sent by the Islamic Revolutionary Guard Corps"
    assert {m.entity_id for m in Matcher(catalogue).match(text).mentions} == {"irgc"}
    terms = emerging_terms(
        [("Wire", text), ("Other", "Islamic Revolutionary Guard Corps")], catalogue
    )
    assert "Islamic Revolutionary Guard Corps" not in {t.term for t in terms}
