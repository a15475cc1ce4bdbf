"""``newswatch search`` an analyst can act on (issue 20 item 2): phrases that mean the phrase,
prefix words, filters, every hit printed whole (full URL, article and story ids) and its id
accepted by ``newswatch why``.

Two real warehouses: the bundled offline sample loaded by the real ingest flow (it holds the
issue's case: two "ghost fleet" texts and Kazan's "shadow fleet" of e-scooters), and a small
one loaded through staging with texts written to probe the phrase rule's edges."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.commands.search import COLUMNS, write_blocks
from newswatch.core.settings import default_snapshot_path
from newswatch.sample import serve_sample, write_sample_sources
from newswatch.warehouse import search
from newswatch.warehouse.db import connect
from newswatch.warehouse.load import load_entities, load_staged, stage_batch
from newswatch.warehouse.sample import SAMPLE_ENTITIES, sample_batches
from newswatch.warehouse.search_syntax import QueryError, SearchQuery, parse_query
from newswatch.warehouse.snapshot import publish_snapshot

# The phrase rule written independently of the code under test (Python's re, Unicode).
GHOST_FLEET = re.compile(r"(?<!\w)ghost\s+fleet(?!\w)", re.IGNORECASE)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def blocks(out: str) -> list[dict[str, str]]:
    """The table output's hits: title, meta, id, story, url and snippet of each block."""
    found = []
    for chunk in out.strip().split("\n\n"):
        lines = chunk.splitlines()
        if len(lines) != 5:
            continue
        ids = re.fullmatch(r"   id (\S+) · story (\S+)", lines[2])
        assert ids, lines[2]
        found.append(
            {
                "title": lines[0].split(". ", 1)[1],
                "meta": lines[1].strip(),
                "id": ids[1],
                "story": ids[2],
                "url": lines[3].strip(),
                "snippet": lines[4].strip(),
            }
        )
    return found


def stored(db: Path, where: str = "true") -> dict[str, tuple[str | None, str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"SELECT article_id, title, text, url FROM articles WHERE {where}")
        return {r[0]: (r[1], r[2], r[3]) for r in rows.fetchall()}


# -- the bundled sample, loaded by the real ingest flow ------------------------------------


@pytest.fixture(scope="module")
def bundled(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from newswatch.flows.ingest import ingest

    tmp = tmp_path_factory.mktemp("bundled")
    db = tmp / "news.duckdb"
    with serve_sample() as base:
        sources = write_sample_sources(base, tmp / "sources.toml")
        ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"])
    assert default_snapshot_path(db).exists()
    yield db


def test_a_quoted_phrase_finds_only_texts_with_the_phrase_each_with_full_url_and_id(
    bundled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    articles = stored(bundled)
    with_phrase = {
        aid for aid, (title, text, _) in articles.items() if GHOST_FLEET.search(f"{title}\n{text}")
    }
    scooters = {aid for aid, (_, _, url) in articles.items() if "e-scooter-shadow-fleet" in url}
    assert len(with_phrase) >= 2 and len(scooters) == 1  # the sample holds the case

    code, out, _ = run_cli(["search", '"ghost fleet"', "--db", str(bundled)], capsys)
    hits = blocks(out)
    assert code == 0
    assert {h["id"] for h in hits} == with_phrase
    for hit in hits:
        assert hit["url"] == articles[hit["id"]][2]  # the whole URL, as stored
        assert "…" not in hit["url"]
        assert "[ghost fleet]" in hit["snippet"].lower()

    code, out, _ = run_cli(["search", "ghost fleet", "--db", str(bundled)], capsys)
    assert code == 0
    assert scooters <= {h["id"] for h in blocks(out)}  # the bare words still find it


def test_an_id_search_prints_is_one_why_accepts(
    bundled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_cli(["search", '"ghost fleet"', "--db", str(bundled)], capsys)
    first = blocks(out)[0]
    code, explained, _ = run_cli(["why", first["id"], "--db", str(bundled)], capsys)
    assert code == 0
    assert f"article {first['id']}" in explained
    assert first["url"] in explained
    assert f"STORY {first['story']}" in explained


def test_an_entity_alias_filter_on_the_bundled_sample(
    bundled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect(str(bundled), read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT entity_id FROM mentions WHERE lower(alias) = 'алабуга'"
        ).fetchall()
        assert len(rows) == 1  # one entity matched the alias
        entity = rows[0][0]
        mentioning = {
            r[0]
            for r in con.execute(
                "SELECT article_id FROM mentions WHERE entity_id = ?", [entity]
            ).fetchall()
        }
    code, out, err = run_cli(
        ["search", "drone*", "--entity", "Алабуга", "--format", "json", "--db", str(bundled)],
        capsys,
    )
    hits = json.loads(out)
    assert code == 0, err
    assert hits and {h["article_id"] for h in hits} <= mentioning


# -- a small warehouse with texts that probe the phrase rule -------------------------------

TEXTS = {
    "plain": ("Tankers of the ghost fleet", "The ghost fleet moved oil past the strait."),
    "spaced": ("Sea report", "Analysts call it the GHOST\u00a0 \n FLEET, again."),
    "scooters": (
        "Kazan's shadow fleet of abandoned e-scooters",
        "A shadow fleet of abandoned e-scooters clogs courtyards; a ghost town at night.",
    ),
    "plural": ("Fleets", "Several ghost fleets and one ghost-fleet operator were named."),
    "title-only": ("Inside the ghost fleet", "Officials said little about tankers."),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The first sample batch with five of its articles rewritten as ``TEXTS`` (one each in
    English from Reuters, the rest as the batch has them); ``{name: article_id}``."""
    tmp = tmp_path_factory.mktemp("small")
    db = tmp / "news.duckdb"
    batch = sample_batches(days=7, per_day=4)[0]
    articles = list(batch.articles)
    names = {}
    for n, (name, (title, text)) in enumerate(TEXTS.items()):
        articles[n] = replace(articles[n], title=title, text=text)
        names[name] = articles[n].article_id
    with connect(db) as con:
        load_entities(con, list(SAMPLE_ENTITIES), version="sample-1")
    stage_batch(replace(batch, articles=tuple(articles)), tmp / "staging")
    assert load_staged(db, tmp / "staging").batches_loaded == 1
    publish_snapshot(db)
    return db, names


def phrase_ids(db: Path, query: str) -> set[str]:
    with connect(default_snapshot_path(db), read_only=True) as con:
        return {h.article_id for h in search.search(con, query, limit=100)}


def test_the_phrase_rule_case_whitespace_and_word_boundaries(
    small: tuple[Path, dict[str, str]],
) -> None:
    db, names = small
    found = phrase_ids(db, '"ghost fleet"')
    assert found == {names["plain"], names["spaced"], names["title-only"]}
    assert names["scooters"] in phrase_ids(db, "ghost fleet")  # bare words: any word ranks
    assert phrase_ids(db, '"shadow fleet of abandoned e-scooters"') == {names["scooters"]}
    assert phrase_ids(db, '"fleet of the ghost"') == set()
    assert phrase_ids(db, '"ghost fleet" strait') == found  # a phrase must; words only rank


def test_the_phrase_highlight_and_a_terminal_rendering(
    small: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, names = small
    code, out, _ = run_cli(["search", '"ghost fleet"', "--db", str(db)], capsys)
    by_id = {h["id"]: h for h in blocks(out)}
    assert code == 0
    assert "the [GHOST FLEET], again." in by_id[names["spaced"]]["snippet"]
    assert "\x1b[" not in out  # not a terminal: brackets, no escape codes
    assert out.rstrip().endswith("3 hit(s); `newswatch why ID` explains one")

    with connect(default_snapshot_path(db), read_only=True) as con:
        hits = search.search(con, '"ghost fleet"')
    terminal = io.StringIO()
    write_blocks(hits, terminal, terminal=True)
    shown = terminal.getvalue()
    assert "\x1b[1;33mghost fleet\x1b[0m" in shown
    assert all(hit.url in shown and hit.article_id in shown for hit in hits)


def test_prefix_words_expand_and_must_start_a_word(
    small: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = small
    articles = stored(db)
    starts = re.compile(r"(?<!\w)alab", re.IGNORECASE)
    expected = {aid for aid, (t, x, _) in articles.items() if starts.search(f"{t}\n{x}")}
    assert expected
    assert phrase_ids(db, "alab*") == expected
    assert phrase_ids(db, "ALABUG*") == expected
    assert phrase_ids(db, "labuga*") == set()  # inside a word is not a start
    code, _, err = run_cli(["search", "a*", "--db", str(db)], capsys)
    assert code == 1 and "too short" in err


def test_filters_by_outlet_language_day_and_entity(
    small: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, names = small
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT article_id, outlet, source_id, language, published_day FROM articles"
        ).fetchall()
        shahed = {
            r[0]
            for r in con.execute(
                "SELECT article_id FROM mentions WHERE entity_id = 'shahed-136'"
            ).fetchall()
        }
    every = phrase_ids(db, "russia iran")
    assert every == {r[0] for r in rows} - set(names.values())  # the rewritten texts lack both
    days = sorted({r[4] for r in rows})

    def ids(*extra: str) -> set[str]:
        code, out, err = run_cli(
            [
                "search",
                "russia iran",
                "--limit",
                "100",
                "--format",
                "json",
                "--db",
                str(db),
                *extra,
            ],
            capsys,
        )
        assert code == 0, err
        return {h["article_id"] for h in json.loads(out)}

    assert ids("--outlet", "MEDUZA") == every & {r[0] for r in rows if r[1] == "Meduza"}
    assert ids("--outlet", "reuters", "--outlet", "meduza") == every & {
        r[0] for r in rows if r[2] in {"reuters", "meduza"}
    }
    assert ids("--language", "fa") == every & {r[0] for r in rows if r[3] == "fa"}
    assert ids("--since", days[-2].isoformat()) == every & {r[0] for r in rows if r[4] >= days[-2]}
    assert ids("--entity", "Shahed-136") == every & shahed  # by name
    assert ids("--entity", "shahed-136") == every & shahed  # by id
    assert ids("--entity", "Shahed-136 drones") == every & shahed  # by a stored alias
    code, _, err = run_cli(["search", "x", "--entity", "nothing-like-it", "--db", str(db)], capsys)
    assert code == 1 and "unknown entity" in err


def test_csv_and_json_carry_every_field(
    small: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, names = small
    articles = stored(db)
    _, out, _ = run_cli(["search", '"ghost fleet"', "--format", "json", "--db", str(db)], capsys)
    records = json.loads(out)
    assert [list(r) for r in records] == [COLUMNS] * 3
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert all(r["url"] == articles[r["article_id"]][2] for r in records)
    assert all(r["story_id"] and r["outlet"] and r["language"] for r in records)
    _, out, _ = run_cli(["search", '"ghost fleet"', "--format", "csv", "--db", str(db)], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["article_id"] for r in rows] == [r["article_id"] for r in records]
    assert {r["article_id"] for r in rows} == {
        names["plain"],
        names["spaced"],
        names["title-only"],
    }


def test_the_query_language_parses_odd_input_without_failing() -> None:
    assert parse_query('"ghost fleet" alab* Iran') == SearchQuery(
        ("Iran",), (("ghost", "fleet"),), ("alab",)
    )
    assert parse_query("\u201cghost fleet\u201d") == SearchQuery((), (("ghost", "fleet"),), ())
    assert parse_query('" OR 1=1 --') == SearchQuery((), (("OR", "1=1", "--"),), ())
    assert parse_query("* ** ?") == SearchQuery(("?",), (), ())
    assert parse_query("a* alab*") == SearchQuery(("a",), (), ("alab",))  # as the ui passes it
    with pytest.raises(QueryError, match="too short"):
        parse_query("a*", strict=True)  # as the command parses it


def test_help_documents_phrases_prefixes_and_the_layout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = capsys.readouterr().out
    for needle in ('"ghost fleet"', "alab*", "newswatch why", "--entity", "--since", "full URL"):
        assert needle in text


def test_candidates_join_by_rowid_and_by_name_alike(
    small: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = small
    queries = ['"ghost fleet"', "alab*", "russia iran", "ghost fleet"]
    filters = search.SearchFilters(languages=("en", "ru"))
    with connect(default_snapshot_path(db), read_only=True) as con:
        assert search.docid_is_article_rowid(con)  # checked when the index was built
        by_rowid = [search.search(con, q, limit=100, filters=filters) for q in queries]
        monkeypatch.setattr(search, "docid_is_article_rowid", lambda con: False)
        by_name = [search.search(con, q, limit=100, filters=filters) for q in queries]
    assert all(by_rowid) and by_rowid == by_name
