"""The lake's BM25 index is brought up to date incrementally (``warehouse/lake_search.py``):
after inserts, deletes and updates in several lake commits, the index file built change by
change equals a full rebuild of the same articles (terms, document frequencies, lengths,
postings, stats), ``search.search`` answers the same, and a publish with no article
changed does no work. Real lake (SQLite catalog), real DuckDB index files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from newswatch.warehouse import search
from newswatch.warehouse.db import connect, open_duckdb
from newswatch.warehouse.lake import search_index_path
from newswatch.warehouse.lake_search import (
    articles_version,
    attach_index,
    catalog_articles_version,
    compact_lake_index,
    indexed_version,
    publish_lake_index,
)

TEXTS = (
    ("The Shahed-136 drones hit the port of Odesa", "Drones over Odesa"),
    ("Иранские беспилотники «Шахед» атаковали порт", "Шахеды над Одессой"),
    ("پهپادهای شاهد به بندر حمله کردند", None),
    ("A factory in Alabuga builds the drones; factories elsewhere too.", "Alabuga factory"),
    ("the and of", "of the"),  # stopwords only
    ("Café crème, naïve résumé: accents are kept", "Accents"),
    ("Sanctions on the Caspian shipping route", "Caspian route"),
)


def insert(con: duckdb.DuckDBPyConnection, first: int, count: int) -> None:
    con.execute(
        """
        INSERT INTO articles BY NAME
        SELECT 'a' || lpad(CAST(i AS VARCHAR), 4, '0') AS article_id,
               'src' || (i % 3) AS source_id, 'Outlet ' || (i % 3) AS outlet,
               'https://example.org/' || i AS url, 'https://example.org/' || i AS canonical_url,
               CASE WHEN $titles[1 + i % len($titles)] IS NULL THEN NULL
                    ELSE $titles[1 + i % len($titles)] || ' ' || i END AS title,
               $texts[1 + i % len($texts)] || ' story' || (i % 5) AS text,
               TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_days(CAST(i AS INTEGER)) AS first_seen_at,
               DATE '2026-01-01' + CAST(i AS INTEGER) AS published_day,
               'ok' AS status, 0.5 AS relevance, true AS on_topic,
               CASE i % 3 WHEN 0 THEN 'en' WHEN 1 THEN 'ru' ELSE 'fa' END AS language
        FROM range($first, $first + $count) AS t(i)
        """,
        {
            "first": first,
            "count": count,
            "texts": [t for t, _ in TEXTS],
            "titles": [h for _, h in TEXTS],
        },
    )


def index_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The index by names, not ids (ids are numbered differently by each build)."""
    ix = search.INDEX_SCHEMA
    with open_duckdb(path, read_only=True) as con:
        return {
            "dict": con.sql(f"SELECT term, df FROM {ix}.dict ORDER BY term").fetchall(),
            "docs": con.sql(f"SELECT name, len FROM {ix}.docs ORDER BY name").fetchall(),
            "postings": con.sql(
                f"""SELECT d.name, t.fieldid, w.term, t.len, count(*) FROM {ix}.terms AS t
                    JOIN {ix}.docs AS d USING (docid) JOIN {ix}.dict AS w USING (termid)
                    GROUP BY ALL ORDER BY ALL"""
            ).fetchall(),
            "stats": con.sql(f"SELECT num_docs, round(avgdl, 9) FROM {ix}.stats").fetchall(),
            "articles": con.sql(
                "SELECT * EXCLUDE (docid) FROM articles ORDER BY article_id"
            ).fetchall(),
        }


def hits(catalog: Path, index: Path, query: str, **filters: object) -> list[tuple[object, ...]]:
    return answers(catalog, index, [(query, filters)])[0]


def answers(
    catalog: Path, index: Path, queries: list[tuple[str, dict[str, object]]], copy: bool = True
) -> list[list[tuple[object, ...]]]:
    """``search.search``'s hits (id, score, story, outlet, day, snippet) for each (query,
    filters), on one connection (hit columns read from the index file's copy)."""
    with connect(catalog, read_only=True) as con:
        search.load_extension(con)
        attach_index(con, index)
        assert search.side_articles_by_docid(con) == copy
        return [
            [
                (h.article_id, round(h.score, 9), h.story_id, h.outlet, h.published_day, h.snippet)
                for h in search.search(
                    con,
                    query,
                    limit=50,
                    filters=search.SearchFilters(**filters),  # type: ignore[arg-type]
                )
            ]
            for query, filters in queries
        ]


QUERIES = ("drones", '"port of Odesa"', "factor*", "шахед*", "беспилотники", "Caspian route")


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "news.lake.sqlite"
    connect(path).close()
    return path


def test_the_index_updated_change_by_change_equals_a_full_rebuild(
    catalog: Path, tmp_path: Path
) -> None:
    index = search_index_path(catalog)
    with connect(catalog) as con:
        insert(con, 0, 40)
    first = publish_lake_index(catalog, index)
    assert first.mode == "full" and first.articles == 40

    with connect(catalog) as con:
        insert(con, 40, 25)  # new articles
    step = publish_lake_index(catalog, index)
    assert (step.mode, step.changed, step.articles) == ("incremental", 25, 65)

    with connect(catalog) as con:
        con.execute("DELETE FROM articles WHERE article_id IN ('a0003', 'a0050')")
        con.execute("UPDATE articles SET text = 'Odesa port reopened' WHERE article_id = 'a0007'")
        con.execute("UPDATE articles SET on_topic = false WHERE article_id = 'a0008'")  # not text
        con.execute("UPDATE articles SET story_id = 'story-x' WHERE article_id = 'a0009'")
        insert(con, 65, 3)
        con.execute("DELETE FROM articles WHERE article_id = 'a0066'")  # inserted, then gone
    step = publish_lake_index(catalog, index)
    # 2 deleted, 1 text changed, 2 of the 3 new kept; a0008's verdict is not indexed text,
    # a0009's story id is copied in place
    assert (step.mode, step.changed, step.articles) == ("incremental", 5, 65)

    rebuilt = tmp_path / "rebuilt.search.duckdb"
    assert publish_lake_index(catalog, rebuilt).mode == "full"
    assert index_contents(index) == index_contents(rebuilt)
    cases = [(q, {}) for q in QUERIES] + [(q, {"languages": ("ru",)}) for q in QUERIES]
    expected = answers(catalog, rebuilt, cases)
    assert answers(catalog, index, cases) == expected
    assert sum(map(len, expected)) > 50  # the queries find things
    assert "a0007" not in {h[0] for h in hits(catalog, index, '"hit the port"')}
    assert [h[0] for h in hits(catalog, index, "reopened")] == ["a0007"]
    assert [h[2] for h in hits(catalog, index, "story4") if h[0] == "a0009"] == ["story-x"]
    assert "a0003" not in {h[0] for h in hits(catalog, index, "story3")}
    with pytest.MonkeyPatch.context() as patch:  # hits looked up in the lake by id instead
        patch.setattr(search, "side_articles_by_docid", lambda con: False)
        assert answers(catalog, index, cases, copy=False) == expected

    compact_lake_index(index)
    assert index_contents(index) == index_contents(rebuilt)
    assert answers(catalog, index, cases) == expected


def bm25_reference(index: Path, query: str) -> list[tuple[str, float]]:
    """The extension's own BM25 (``match_bm25``) over the index file, best first."""
    with open_duckdb(index, read_only=True) as con:
        search.load_extension(con)
        return [
            (str(a), float(s))
            for a, s in con.execute(
                "SELECT article_id, round(s, 9) FROM (SELECT name AS article_id, "
                f"{search.INDEX_SCHEMA}.match_bm25(name, $q) AS s FROM {search.INDEX_SCHEMA}.docs) "
                "WHERE s IS NOT NULL ORDER BY s DESC, article_id",
                {"q": query},
            ).fetchall()
        ]


def test_lake_search_ranks_as_the_extensions_bm25_on_a_full_rebuild(
    catalog: Path, tmp_path: Path
) -> None:
    """The hits a lake search reads by docid from the index file (``search._side_hits``),
    after incremental publishes, are the extension's ranking over a full rebuild: same
    articles, same scores, same order, and each hit's columns are the lake's row."""
    index = search_index_path(catalog)
    with connect(catalog) as con:
        insert(con, 0, 30)
    publish_lake_index(catalog, index)
    with connect(catalog) as con:
        insert(con, 30, 20)
        con.execute("DELETE FROM articles WHERE article_id IN ('a0004', 'a0031')")
        con.execute(
            "UPDATE articles SET text = 'drones over the Caspian' WHERE article_id = 'a0010'"
        )
    assert publish_lake_index(catalog, index).mode == "incremental"
    rebuilt = tmp_path / "rebuilt.search.duckdb"
    assert publish_lake_index(catalog, rebuilt, incremental=False).mode == "full"
    queries = ("drones", "Caspian route", "factory drones", "беспилотники порт", "story3")
    with connect(catalog, read_only=True) as con:
        search.load_extension(con)
        attach_index(con, index)
        assert search.side_articles_by_docid(con)
        stored = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT article_id, title, outlet, url, source_id, language FROM articles"
            ).fetchall()
        }
        for query in queries:
            reference = bm25_reference(rebuilt, query)
            assert len(reference) >= 3, query
            found = search.search(con, query, limit=1000)
            assert [(h.article_id, round(h.score, 9)) for h in found] == reference, query
            top = search.search(con, query, limit=3)
            assert [h.article_id for h in top] == [h.article_id for h in found[:3]], query
            for h in found:
                assert (h.title, h.outlet, h.url, h.source_id, h.language) == stored[h.article_id]


def test_a_publish_with_no_article_changed_does_no_index_work(catalog: Path) -> None:
    index = search_index_path(catalog)
    with connect(catalog) as con:
        insert(con, 0, 10)
    publish_lake_index(catalog, index)
    stamp = index.stat().st_mtime_ns, index.stat().st_ino
    with connect(catalog) as con:
        con.execute("UPDATE feed_state SET etag = 'x' WHERE false")
        con.execute("INSERT INTO newswatch_write_guard VALUES (2, 0)")  # another table changes
        quick = catalog_articles_version(catalog)
        assert quick == articles_version(con) == indexed_version(index)
        assert quick is not None and quick > 0
    again = publish_lake_index(catalog, index)
    assert (again.rebuilt, again.mode) == (False, "unchanged")
    with connect(catalog) as con:
        insert(con, 10, 1)
        assert catalog_articles_version(catalog) == articles_version(con) > (quick or 0)
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == stamp


def test_compaction_rewrites_the_index_only_after_a_publish_appended_to_it(catalog: Path) -> None:
    index = search_index_path(catalog)
    with connect(catalog) as con:
        insert(con, 0, 10)
    publish_lake_index(catalog, index)

    def stamp() -> tuple[int, int]:
        return index.stat().st_mtime_ns, index.stat().st_ino

    built = stamp()
    compact_lake_index(index)  # a full build leaves the postings in term order
    assert stamp() == built
    with connect(catalog) as con:
        insert(con, 10, 5)
    assert publish_lake_index(catalog, index).mode == "incremental"
    appended = stamp()
    compact_lake_index(index)
    compacted = stamp()
    assert compacted != appended
    compact_lake_index(index)  # nothing appended since: left as it is
    assert stamp() == compacted
    with open_duckdb(index, read_only=True) as con:
        ix = search.INDEX_SCHEMA
        order = con.sql(f"SELECT termid, docid FROM {ix}.terms ORDER BY rowid").fetchall()
    assert order == sorted(order) and len(order) > 50


def test_a_reader_with_the_index_attached_keeps_its_view_while_a_publish_replaces_it(
    catalog: Path,
) -> None:
    index = search_index_path(catalog)
    with connect(catalog) as con:
        insert(con, 0, 10)
    publish_lake_index(catalog, index)
    with connect(catalog, read_only=True) as reader:
        search.load_extension(reader)
        attach_index(reader, index)
        before = len(search.search(reader, "drones", limit=100))
        with connect(catalog) as con:
            insert(con, 10, 14)
        assert publish_lake_index(catalog, index).mode == "incremental"  # reader never waited
        assert len(search.search(reader, "drones", limit=100)) == before
    assert len(hits(catalog, index, "drones")) > before
    assert indexed_version(index) is not None
