"""``newswatch why``: one article explained end to end from what the warehouse stores."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.records import AlertRecord, FeedPoll
from newswatch.extractors.entities import load_catalogue
from tests.trust_helpers import SEEN_AT, SOURCE, load_batch, matched_batch

MAIN = ("Drones from Tatarstan", "Shahed-136 drones assembled at Alabuga hit Kharkiv overnight.")
COPY = ("Drones (wire copy)", "Shahed-136 drones assembled at Alabuga hit Kharkiv at night.")


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("why") / "nw.duckdb"
    batch = matched_batch([MAIN, COPY], load_catalogue())
    first, second = batch.articles
    first = replace(
        first,
        final_url="https://wire.example/amp/0",
        date_flag="future",
        published_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    second = replace(second, story_id=first.story_id, outlet="Other Outlet")
    poll = FeedPoll(SOURCE.id, SOURCE.url, "ok", SEEN_AT, http_status=200)
    alert = AlertRecord(
        alert_id="a1",
        rule="new-story",
        kind="new_story",
        story_id=first.story_id or "",
        channel="ops-webhook",
        delivery="immediate",
        created_at=SEEN_AT,
        article_id=first.article_id,
    )
    load_batch(replace(batch, articles=(first, second), feed_polls=(poll,), alerts=(alert,)), path)
    return path


def why(db_path: Path, key: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["why", key, "--db", str(db_path), *extra]) == 0
    return capsys.readouterr().out


def test_why_by_url_shows_every_stage(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = why(db_path, "https://wire.example/news/0", capsys)
    sections = [line for line in out.splitlines() if line.split(" ")[0].isupper()]
    assert [s.split(" ")[0] for s in sections] == [
        "FETCHED",
        "EXTRACTED",
        "MATCHED",
        "JUDGED",
        "STORY",
        "ALERTS",
    ]
    assert "https://wire.example/feed.xml" in out and "feed poll   ok HTTP 200" in out
    assert "redirected to https://wire.example/amp/0" in out
    assert "by page_meta (confidence high, FLAGGED future: not trusted)" in out
    assert "shahed-136 (Shahed-136, iran)  alias 'Shahed-136' x1" in out
    assert "“Shahed-136 drones assembled at Alabuga hit Kharkiv overnight.”" in out
    assert "ON TOPIC" in out and "rule topic_specific" in out
    assert "outlets     2: Other Outlet, Wire Service" in out
    assert "new-story [new_story] -> ops-webhook: pending" in out


def test_why_finds_an_article_by_id_prefix_and_final_url(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_final = json.loads(why(db_path, "https://wire.example/amp/0", capsys, "--format", "json"))
    article_id = by_final["article"]["article_id"]
    by_prefix = json.loads(why(db_path, article_id[:10], capsys, "--format", "json"))
    assert by_prefix["article"]["article_id"] == article_id
    assert {m["entity_id"] for m in by_prefix["mentions"]} >= {"shahed-136", "alabuga-sez"}
    assert [s["outlet"] for s in by_prefix["story"]] == ["Other Outlet"]


def test_why_an_unknown_article_says_so(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", "https://nowhere.example/x", "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "no stored article" in err and "characters" not in err  # a URL, not a short id


def test_why_with_a_short_id_says_ids_need_8_characters(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["why", "abcd", "--db", str(db_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "an article id prefix needs 8+ characters (4 given)" in captured.err
