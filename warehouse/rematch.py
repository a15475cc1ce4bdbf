"""Storage side of ``newswatch entities rematch``: read stored articles in batches, then
replace mentions and match verdicts in one transaction and record the catalogue version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from newswatch.extractors.entities import Catalogue
from newswatch.extractors.rematch import RematchResult, StoredArticle
from newswatch.warehouse.load import load_entities

_STORED = """
SELECT a.article_id, a.title, a.text, a.on_topic,
       list(m.entity_id) FILTER (WHERE m.entity_id IS NOT NULL) AS entity_ids
FROM articles AS a
LEFT JOIN mentions AS m USING (article_id)
GROUP BY ALL
ORDER BY a.article_id
"""


def article_count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM articles").fetchone()
    return int(row[0]) if row else 0


def stored_articles(
    con: duckdb.DuckDBPyConnection, batch_size: int = 500
) -> Iterator[list[StoredArticle]]:
    """Every stored article with the entities of its stored mentions, ``batch_size`` at a time."""
    cursor = con.execute(_STORED)
    while rows := cursor.fetchmany(batch_size):
        yield [
            StoredArticle(row[0], row[1], row[2] or "", bool(row[3]), frozenset(row[4] or ()))
            for row in rows
        ]


def write_rematch(
    con: duckdb.DuckDBPyConnection, result: RematchResult, catalogue: Catalogue
) -> None:
    """Replace every mention and verdict with ``result`` and record ``catalogue``, atomically."""
    verdicts = pa.table(
        {
            "article_id": [v.article_id for v in result.verdicts],
            "relevance": pa.array([v.relevance for v in result.verdicts], pa.float64()),
            "on_topic": pa.array([v.on_topic for v in result.verdicts], pa.bool_()),
            "relevance_rule": pa.array([v.rule for v in result.verdicts], pa.string()),
        }
    )
    mentions = _mention_table(result)
    now = datetime.now(UTC)
    con.register("rematch_verdicts", verdicts)
    con.register("rematch_mentions", mentions)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            UPDATE articles SET relevance = v.relevance, on_topic = v.on_topic,
                                relevance_rule = v.relevance_rule
            FROM rematch_verdicts AS v
            WHERE articles.article_id = v.article_id
              AND (articles.relevance IS DISTINCT FROM v.relevance
                   OR articles.on_topic IS DISTINCT FROM v.on_topic
                   OR articles.relevance_rule IS DISTINCT FROM v.relevance_rule)
            """
        )
        con.execute(
            "DELETE FROM mentions WHERE article_id IN (SELECT article_id FROM rematch_verdicts)"
        )
        con.execute(
            """
            INSERT INTO mentions BY NAME
            SELECT DISTINCT ON (m.article_id, m.entity_id) m.*, a.published_day
            FROM rematch_mentions AS m JOIN articles AS a USING (article_id)
            """
        )
        con.execute("DELETE FROM entity_daily")
        con.execute(
            """
            INSERT INTO entity_daily
            SELECT m.entity_id, m.published_day, sum(m.count), count(*),
                   count(DISTINCT coalesce(a.story_id, a.article_id))
            FROM mentions AS m JOIN articles AS a USING (article_id)
            GROUP BY 1, 2
            """
        )
        load_entities(
            con,
            [
                {"id": e.id, "name": e.name, "type": e.type, "side": e.side}
                for e in catalogue.entities
            ],
            catalogue.version,
        )
        record_catalogue_version(con, catalogue, "rematch", result.summary(), now)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("rematch_verdicts")
        con.unregister("rematch_mentions")


def record_catalogue_version(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    recorded_by: str,
    summary: dict[str, object],
    now: datetime,
) -> None:
    """Insert or refresh the ``catalogue_versions`` row of ``catalogue`` (a MERGE: it runs
    on a lake too)."""
    con.execute(
        """
        MERGE INTO catalogue_versions USING (
            SELECT $version AS version, $path AS path, $entities AS entities,
                   $now AS recorded_at, $by AS recorded_by, $summary AS summary
        ) AS given USING (version)
        WHEN MATCHED THEN UPDATE SET
            path = given.path, entities = given.entities, recorded_at = given.recorded_at,
            recorded_by = given.recorded_by, summary = given.summary
        WHEN NOT MATCHED THEN INSERT (version, path, entities, recorded_at, recorded_by, summary)
            VALUES (given.version, given.path, given.entities, given.recorded_at,
                    given.recorded_by, given.summary)
        """,
        {
            "version": catalogue.version,
            "path": catalogue.path,
            "entities": len(catalogue.entities),
            "now": now,
            "by": recorded_by,
            "summary": json.dumps(summary, sort_keys=True),
        },
    )


def _mention_table(result: RematchResult) -> pa.Table:
    rows = result.mentions
    return pa.table(
        {
            "article_id": pa.array([m.article_id for m in rows], pa.string()),
            "entity_id": pa.array([m.entity_id for m in rows], pa.string()),
            "count": pa.array([m.count for m in rows], pa.int32()),
            "first_offset": pa.array([m.first_offset for m in rows], pa.int32()),
            "snippet": pa.array([m.snippet for m in rows], pa.string()),
            "alias": pa.array([m.alias for m in rows], pa.string()),
        }
    )
