"""The UTC offset a date was published in (issue 19 item 3): read from feeds (RSS, Atom,
JSON Feed, non-English pubDates) and pages, stored beside the UTC instant in
``articles.published_offset_minutes``, and shown by ``newswatch why`` as the local day."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.extractors.date_trust import stored_offset
from newswatch.extractors.entities import load_catalogue
from newswatch.extractors.feed_dates import declared_offset
from newswatch.extractors.feeds import parse_feed
from newswatch.extractors.pages import extract_fetched
from newswatch.warehouse import migrations
from newswatch.warehouse.db import connect
from newswatch.warehouse.trends import ENTITY_DAILY
from tests.trust_helpers import load_batch, matched_batch

FETCHED = datetime(2026, 5, 1, 12, tzinfo=UTC)
INSTANT = datetime(2026, 4, 30, 22, 30, tzinfo=UTC)  # 1 May 00:30 in +02:00


def rss(*dates: str) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://n.example/{i}</link>"
        f"<guid>g{i}</guid><pubDate>{when}</pubDate></item>"
        for i, when in enumerate(dates)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>'
        f"<link>https://n.example/</link><language>it</language>{items}</channel></rss>"
    ).encode()


def entries_by_link(content: bytes, content_type: str | None = None) -> dict[str, FeedEntry]:
    parsed = parse_feed(
        content,
        base_url="https://n.example/feed",
        source_id="n",
        fetched_at=FETCHED,
        content_type=content_type,
    )
    return {e.link: e for e in parsed.entries}


def test_rss_dates_keep_the_offset_they_declare() -> None:
    found = entries_by_link(
        rss(
            "Fri, 01 May 2026 00:30:00 +0200",
            "Thu, 30 Apr 2026 22:30:00 GMT",
            "Thu, 30 Apr 2026 17:30:00 EST",
            "Thu, 30 Apr 2026 22:30:00 -0000",  # RFC 5322: no local offset known
            "ven, 01 mag 2026 00:30:00 +0200",  # Italian: read by the dateparser fallback
        )
    )
    offsets = {link[-1]: (e.published_at, e.published_offset_minutes) for link, e in found.items()}
    assert offsets == {
        "0": (INSTANT, 120),
        "1": (INSTANT, 0),
        "2": (INSTANT, -300),
        "3": (INSTANT, None),
        "4": (INSTANT, 120),
    }


def test_atom_and_json_feed_dates_keep_their_offset() -> None:
    atom = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>N</title>'
        b"<id>urn:n</id><updated>2026-05-01T00:30:00+02:00</updated>"
        b'<entry><title>A</title><id>urn:a</id><link href="https://n.example/a"/>'
        b"<updated>2026-05-01T00:30:00+02:00</updated></entry></feed>"
    )
    (entry,) = entries_by_link(atom).values()
    assert (entry.published_at, entry.published_offset_minutes) == (INSTANT, 120)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "N",
        "items": [
            {
                "id": "j1",
                "url": "https://n.example/j",
                "content_text": "x",
                "date_published": "2026-04-30T18:30:00-04:00",
            },
        ],
    }
    (entry,) = entries_by_link(json.dumps(feed).encode(), "application/feed+json").values()
    assert (entry.published_at, entry.published_offset_minutes) == (INSTANT, -240)


def test_an_offset_is_kept_only_when_the_string_is_the_parsed_instant() -> None:
    assert declared_offset("Fri, 01 May 2026 00:30:00 +0200", INSTANT) == 120
    assert declared_offset("Fri, 01 May 2026 01:30:00 +0200", INSTANT) is None  # not it
    assert declared_offset("ven, 01 mag 2026 00:30:00 +0200", INSTANT) == 120
    assert declared_offset("ven, 01 mag 2026 03:30:00 +0200", INSTANT) is None
    assert declared_offset("ven, 01 mag 2026 00:30:00", INSTANT) is None
    assert declared_offset(None, INSTANT) is None


def test_a_failed_page_keeps_the_feed_date_and_its_offset() -> None:
    entry = FeedEntry(
        "n", "g", "https://n.example/a", "T", "S", INSTANT, published_offset_minutes=120
    )
    failed = PageFetch("https://n.example/a", FETCHED, "error", error="timeout")
    article = extract_fetched(failed, entry)
    assert (article.published_at, article.date_method) == (INSTANT, "feed")
    assert stored_offset(article, entry) == 120
    undated = replace(entry, date_flag="missing", published_offset_minutes=None)
    assert stored_offset(extract_fetched(failed, undated), undated) is None
    from_page = ExtractedArticle(
        "u",
        "u",
        None,
        "",
        "ok",
        published_at=INSTANT,
        date_method="page_meta",
        published_offset_minutes=-60,
    )
    assert stored_offset(from_page, entry) == -60


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("offsets") / "nw.duckdb"
    batch = matched_batch(
        [("Drones", "Shahed-136 drones hit Kharkiv."), ("Other", "Nothing here.")],
        load_catalogue(),
    )
    zoned, plain = batch.articles
    zoned = replace(zoned, published_at=INSTANT, published_offset_minutes=120)
    load_batch(replace(batch, articles=(zoned, plain)), path)
    return path


def test_the_offset_is_stored_beside_the_utc_instant(db_path: Path) -> None:
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT url, published_at, published_offset_minutes FROM articles ORDER BY url"
        ).fetchall()
    assert [(r[1].astimezone(UTC), r[2]) for r in rows] == [
        (INSTANT, 120),
        (datetime(2026, 3, 1, 8, tzinfo=UTC), None),
    ]


def test_why_shows_the_local_publication_day(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["why", "https://wire.example/news/0", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "published   2026-04-30 22:30:00 UTC = 2026-05-01 00:30 local (+0200) by" in out
    assert main(["why", "https://wire.example/news/1", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "published   2026-03-01 08:00:00 UTC by page_meta" in out


def days(con: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    """(article day, its mentions' days, the entity_daily days) of the zoned article."""
    article = con.execute(
        "SELECT published_day FROM articles WHERE url = 'https://wire.example/news/0'"
    ).fetchone()
    mentions = con.execute(
        "SELECT DISTINCT m.published_day FROM mentions AS m JOIN articles AS a USING (article_id) "
        "WHERE a.url = 'https://wire.example/news/0'"
    ).fetchall()
    rollup = con.execute(
        "SELECT DISTINCT day FROM entity_daily WHERE entity_id = 'shahed-136'"
    ).fetchall()
    return (article[0] if article else None, mentions, rollup)


LOCAL_DAY = date(2026, 5, 1)  # 22:30 UTC on 30 April is 00:30 on 1 May at +02:00


def test_published_day_is_the_articles_own_day_not_the_utc_one(db_path: Path) -> None:
    with connect(db_path, read_only=True) as con:
        assert days(con) == (LOCAL_DAY, [(LOCAL_DAY,)], [(LOCAL_DAY,)])
        undeclared = con.execute(
            "SELECT published_day FROM articles WHERE url = 'https://wire.example/news/1'"
        ).fetchone()
    assert undeclared == (date(2026, 3, 1),)  # no offset declared: UTC's day


def test_migration_12_moves_stored_days_to_the_articles_own_day(
    db_path: Path, tmp_path: Path
) -> None:
    """A file loaded before migration 12 holds UTC days everywhere; the migration fixes
    articles, their mentions and the entity_daily rollup."""
    old = tmp_path / "old.duckdb"
    shutil.copyfile(db_path, old)
    con = duckdb.connect(str(old))
    utc_day = "CAST(timezone('UTC', published_at) AS DATE)"
    con.execute(f"UPDATE articles SET published_day = {utc_day}")
    con.execute(
        "UPDATE mentions SET published_day = a.published_day FROM articles AS a "
        "WHERE mentions.article_id = a.article_id"
    )
    con.execute("DELETE FROM entity_daily")
    con.execute(ENTITY_DAILY[1])
    con.execute("DELETE FROM schema_migrations WHERE version = 12")
    utc = date(2026, 4, 30)
    assert days(con) == (utc, [(utc,)], [(utc,)])
    applied = migrations.apply(con)
    assert [m.name for m in applied] == ["local_published_day"]
    assert days(con) == (LOCAL_DAY, [(LOCAL_DAY,)], [(LOCAL_DAY,)])
    con.close()


def test_a_file_from_before_the_offset_migration_gets_the_column_empty(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrations.apply(con, up_to=9)
    columns = {r[1] for r in con.execute("PRAGMA table_info('articles')").fetchall()}
    assert "published_offset_minutes" not in columns
    applied = migrations.apply(con)
    assert [m.name for m in applied if m.version == 10] == ["published_offset"]
    info = {r[1]: r[2] for r in con.execute("PRAGMA table_info('articles')").fetchall()}
    assert info["published_offset_minutes"] == "INTEGER"
    con.close()


def test_a_lake_made_before_the_offset_column_gets_it(tmp_path: Path) -> None:
    from newswatch.warehouse.lake import LakeConfig, open_lake
    from newswatch.warehouse.lake_schema import (
        LAKE_SCHEMA_VERSION,
        VERSION_TABLE,
        current_version,
        ensure_lake_schema,
    )

    config = LakeConfig.embedded(tmp_path)
    with open_lake(config) as con:  # a lake of schema version 1: no offset column
        ensure_lake_schema(con)
        con.execute("ALTER TABLE articles DROP COLUMN published_offset_minutes")
        con.execute(f"UPDATE {VERSION_TABLE} SET version = 1")
    with open_lake(config) as con:
        assert current_version(con) == 1
        report = ensure_lake_schema(con)
        assert report.created and current_version(con) == LAKE_SCHEMA_VERSION >= 2
        columns = con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = 'articles' AND column_name = 'published_offset_minutes'"
        ).fetchall()
        assert columns == [("INTEGER",)]
