"""``newswatch entities rematch``: a catalogue change, re-applied to stored text, is
written in one go and reported as a diff (entities added/removed, on/off-topic flips)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.core.settings import DEFAULT_ENTITIES
from newswatch.extractors.entities import load_catalogue
from tests.trust_helpers import load_batch, matched_batch

GUARDS = ("Moscow talks", "The Revolutionary Guards met officials in Moscow on Tuesday.")
QAEM = ("Kazan fair", "A Qaem-118 interceptor was shown at a trade fair in Kazan.")
SHAHED = ("Night attack", "Shahed-136 drones hit Kyiv overnight, the air force said.")
NEW_ENTITY = """
[[entity]]
id = "qaem-118"
type = "weapon"
name = "Qaem-118"
side = "iran"
topic_specific = true
aliases = ["Qaem 118"]
seeds = []
"""


def article_id(index: int) -> str:
    return hashlib.sha1(f"https://wire.example/news/{index}".encode()).hexdigest()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    db_path = tmp_path / "nw.duckdb"
    load_batch(matched_batch([GUARDS, QAEM, SHAHED], load_catalogue()), db_path)
    return db_path


@pytest.fixture
def changed_catalogue(tmp_path: Path) -> Path:
    """The shipped catalogue without the "Revolutionary Guard(s)" aliases, plus Qaem-118."""
    text = DEFAULT_ENTITIES.read_text(encoding="utf-8")
    trimmed = text.replace('"Revolutionary Guards", "Revolutionary Guard", ', "", 1)
    assert trimmed != text
    path = tmp_path / "entities.toml"
    path.write_text(trimmed + NEW_ENTITY, encoding="utf-8")
    return path


def verdicts(db_path: Path) -> dict[str, tuple[bool, frozenset[str]]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT a.article_id, a.on_topic, list(m.entity_id) FILTER (WHERE m.entity_id "
            "IS NOT NULL) FROM articles a LEFT JOIN mentions m USING (article_id) GROUP BY ALL"
        ).fetchall()
    return {row[0]: (row[1], frozenset(row[2] or ())) for row in rows}


def test_stored_articles_start_as_the_shipped_catalogue_judged_them(warehouse: Path) -> None:
    stored = verdicts(warehouse)
    assert stored[article_id(0)][0] is True and "irgc" in stored[article_id(0)][1]
    assert stored[article_id(1)][0] is False


def test_rematch_reports_the_diff_and_stores_it(
    warehouse: Path, changed_catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["entities", "rematch", "--db", str(warehouse), "--catalogue", str(changed_catalogue)]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split()[0]: line.split()[-2:] for line in out.splitlines() if line[:1] != " "}
    assert lines["irgc"] == ["+0", "-1"]
    assert lines["qaem-118"] == ["+1", "-0"]
    assert "now on topic: 1 article(s)" in out and "Kazan fair" in out
    assert "now off topic: 1 article(s)" in out and "Moscow talks" in out

    stored = verdicts(warehouse)
    assert stored[article_id(0)] == (False, stored[article_id(0)][1] - {"irgc"})
    assert "irgc" not in stored[article_id(0)][1]
    assert stored[article_id(1)][0] is True and "qaem-118" in stored[article_id(1)][1]
    assert stored[article_id(2)][0] is True
    version = load_catalogue(changed_catalogue).version
    with duckdb.connect(str(warehouse), read_only=True) as con:
        recorded = con.execute(
            "SELECT recorded_by, entities FROM catalogue_versions WHERE version = ?", [version]
        ).fetchone()
        rule = con.execute(
            "SELECT relevance_rule FROM articles WHERE article_id = ?", [article_id(1)]
        ).fetchone()
        named = con.execute("SELECT name FROM entities WHERE entity_id = 'qaem-118'").fetchone()
    assert recorded is not None and recorded[0] == "rematch" and recorded[1] > 100
    assert rule == ("topic_specific",)
    assert named == ("Qaem-118",)


def test_dry_run_reports_the_same_diff_and_changes_nothing(
    warehouse: Path, changed_catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = verdicts(warehouse)
    argv = ["entities", "rematch", "--db", str(warehouse), "--catalogue", str(changed_catalogue)]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "now off topic: 1 article(s)" in out and "would record" in out
    assert verdicts(warehouse) == before


def test_rematch_with_the_same_catalogue_reports_no_change(
    warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = verdicts(warehouse)
    assert main(["entities", "rematch", "--db", str(warehouse)]) == 0
    assert "no change" in capsys.readouterr().out
    assert verdicts(warehouse) == before
