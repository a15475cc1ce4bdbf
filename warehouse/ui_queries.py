"""The reads ``newswatch ui`` needs beyond the shared ones (``why_queries``, ``search``, the
trend macros): the story stream with its filters, the filter choices, one entity's profile
and its latest articles. Every value is bound, never pasted into SQL. Read-only.

A story is ``coalesce(story_id, article_id)`` and its lead is its first-seen article. The
stream lists the stories that have at least one article matching the filters, newest first
(by their first day, then first-seen time), with counts over the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb


@dataclass(frozen=True)
class StoryFilters:
    outlet: str | None = None
    language: str | None = None  # 'und' for articles without a language
    entity: str | None = None  # an entity_id the story's matching article mentions
    since: date | None = None  # published_day, inclusive
    until: date | None = None  # published_day, inclusive
    on_topic: bool = False  # only on-topic articles


@dataclass(frozen=True)
class EntityTag:
    entity_id: str
    name: str
    count: int


@dataclass(frozen=True)
class StoryRow:
    story_id: str
    article_id: str  # the lead (first-seen) article
    title: str | None
    outlet: str
    url: str
    first_day: date
    first_seen_at: datetime
    articles: int
    outlets: int
    on_topic: bool
    entities: tuple[EntityTag, ...] = field(default=())


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    articles: int


@dataclass(frozen=True)
class FilterChoices:
    outlets: tuple[Choice, ...]
    languages: tuple[Choice, ...]
    entities: tuple[Choice, ...]


@dataclass(frozen=True)
class EntityProfile:
    entity_id: str
    name: str
    type: str | None
    side: str | None
    articles: int
    stories: int
    mentions: int
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class EntityArticle:
    article_id: str
    title: str | None
    outlet: str
    day: date
    count: int
    snippet: str | None


_MATCHING = """
SELECT DISTINCT coalesce(a.story_id, a.article_id) AS story_id
FROM articles AS a
WHERE ($outlet IS NULL OR a.outlet = $outlet)
  AND ($language IS NULL OR coalesce(a.language, 'und') = $language)
  AND ($since IS NULL OR a.published_day >= $since)
  AND ($until IS NULL OR a.published_day <= $until)
  AND (NOT $on_topic OR a.on_topic)
  AND ($entity IS NULL OR a.article_id IN (
        SELECT article_id FROM mentions WHERE entity_id = $entity))
"""


def _filter_params(filters: StoryFilters) -> dict[str, Any]:
    return {
        "outlet": filters.outlet,
        "language": filters.language,
        "entity": filters.entity,
        "since": filters.since,
        "until": filters.until,
        "on_topic": filters.on_topic,
    }


def story_count(con: duckdb.DuckDBPyConnection, filters: StoryFilters) -> int:
    row = con.execute(f"SELECT count(*) FROM ({_MATCHING})", _filter_params(filters)).fetchone()
    return int(row[0]) if row else 0


def story_stream(
    con: duckdb.DuckDBPyConnection, filters: StoryFilters, *, limit: int = 50, offset: int = 0
) -> tuple[StoryRow, ...]:
    """One page of the stories matching ``filters``, newest first, each with its entities."""
    rows = con.execute(
        f"""
        WITH matching AS ({_MATCHING})
        SELECT coalesce(a.story_id, a.article_id)   AS story_id,
               arg_min(a.article_id, a.first_seen_at) AS article_id,
               arg_min(a.title, a.first_seen_at)    AS title,
               arg_min(a.outlet, a.first_seen_at)   AS outlet,
               arg_min(a.url, a.first_seen_at)      AS url,
               min(a.published_day)                 AS first_day,
               min(a.first_seen_at)                 AS first_seen_at,
               count(*)                             AS articles,
               count(DISTINCT a.outlet)             AS outlets,
               bool_or(a.on_topic)                  AS on_topic
        FROM articles AS a
        SEMI JOIN matching ON matching.story_id = coalesce(a.story_id, a.article_id)
        GROUP BY 1
        ORDER BY first_day DESC, first_seen_at DESC, story_id
        LIMIT $limit OFFSET $offset
        """,
        {**_filter_params(filters), "limit": limit, "offset": offset},
    ).fetchall()
    tags = story_entities(con, [row[0] for row in rows])
    return tuple(
        StoryRow(
            story_id=row[0],
            article_id=row[1],
            title=row[2],
            outlet=row[3],
            url=row[4],
            first_day=row[5],
            first_seen_at=row[6],
            articles=int(row[7]),
            outlets=int(row[8]),
            on_topic=bool(row[9]),
            entities=tags.get(row[0], ()),
        )
        for row in rows
    )


def story_entities(
    con: duckdb.DuckDBPyConnection, story_ids: list[str]
) -> dict[str, tuple[EntityTag, ...]]:
    """The entities each story's articles mention, most mentioned first."""
    if not story_ids:
        return {}
    rows = con.execute(
        """
        SELECT coalesce(a.story_id, a.article_id) AS story_id, m.entity_id,
               coalesce(any_value(e.name), m.entity_id) AS name, sum(m.count) AS count
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        LEFT JOIN entities AS e ON e.entity_id = m.entity_id
        WHERE coalesce(a.story_id, a.article_id) IN (SELECT unnest($ids))
        GROUP BY 1, 2
        ORDER BY 1, count DESC, 2
        """,
        {"ids": story_ids},
    ).fetchall()
    found: dict[str, list[EntityTag]] = {}
    for story_id, entity_id, name, count in rows:
        found.setdefault(story_id, []).append(EntityTag(entity_id, name, int(count)))
    return {story_id: tuple(tags) for story_id, tags in found.items()}


def filter_choices(con: duckdb.DuckDBPyConnection) -> FilterChoices:
    """Every outlet, language and mentioned entity, with its article count."""
    outlets = con.execute(
        "SELECT outlet, outlet, count(*) FROM articles GROUP BY 1 ORDER BY 3 DESC, 1"
    ).fetchall()
    languages = con.execute(
        "SELECT coalesce(language, 'und'), coalesce(language, 'und'), count(*) "
        "FROM articles GROUP BY 1 ORDER BY 3 DESC, 1"
    ).fetchall()
    entities = con.execute(
        """
        SELECT m.entity_id, coalesce(any_value(e.name), m.entity_id),
               count(DISTINCT m.article_id)
        FROM mentions AS m LEFT JOIN entities AS e USING (entity_id)
        GROUP BY 1 ORDER BY 2, 1
        """
    ).fetchall()
    return FilterChoices(
        outlets=tuple(Choice(str(v), str(label), int(n)) for v, label, n in outlets),
        languages=tuple(Choice(str(v), str(label), int(n)) for v, label, n in languages),
        entities=tuple(Choice(str(v), str(label), int(n)) for v, label, n in entities),
    )


def entity_profile(con: duckdb.DuckDBPyConnection, entity_id: str) -> EntityProfile | None:
    """The catalogue row of ``entity_id`` and its totals (None: neither listed nor mentioned)."""
    row = con.execute(
        """
        WITH hits AS (
            SELECT m.article_id, m.count, m.published_day,
                   coalesce(a.story_id, a.article_id) AS story_id
            FROM mentions AS m JOIN articles AS a USING (article_id)
            WHERE m.entity_id = $id
        )
        SELECT e.name, e.type, e.side,
               (SELECT count(DISTINCT article_id) FROM hits),
               (SELECT count(DISTINCT story_id) FROM hits),
               (SELECT coalesce(sum(count), 0) FROM hits),
               (SELECT min(published_day) FROM hits),
               (SELECT max(published_day) FROM hits)
        FROM (SELECT $id AS entity_id) AS wanted
        LEFT JOIN entities AS e USING (entity_id)
        """,
        {"id": entity_id},
    ).fetchone()
    if row is None:
        return None
    name, kind, side, articles, stories, mentions, first, last = row
    if name is None and not articles:
        return None
    return EntityProfile(
        entity_id=entity_id,
        name=name or entity_id,
        type=kind,
        side=side,
        articles=int(articles),
        stories=int(stories),
        mentions=int(mentions),
        first_day=first,
        last_day=last,
    )


def entity_named(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The entity_id whose catalogue name is ``name`` (any case; the first id if several)."""
    row = con.execute(
        "SELECT entity_id FROM entities WHERE lower(name) = lower($name) ORDER BY 1 LIMIT 1",
        {"name": name},
    ).fetchone()
    return str(row[0]) if row else None


def entity_articles(
    con: duckdb.DuckDBPyConnection, entity_id: str, *, limit: int = 20
) -> tuple[EntityArticle, ...]:
    """The newest articles mentioning ``entity_id``, with the mention's snippet."""
    rows = con.execute(
        """
        SELECT a.article_id, a.title, a.outlet, a.published_day, m.count, m.snippet
        FROM mentions AS m JOIN articles AS a USING (article_id)
        WHERE m.entity_id = $id
        ORDER BY a.published_day DESC, a.first_seen_at DESC, a.article_id
        LIMIT $limit
        """,
        {"id": entity_id, "limit": limit},
    ).fetchall()
    return tuple(
        EntityArticle(article_id, title, outlet, day, int(count), snippet)
        for article_id, title, outlet, day, count, snippet in rows
    )


def cooccurring(
    con: duckdb.DuckDBPyConnection, entity_id: str, since: date, until: date, *, limit: int = 20
) -> tuple[EntityTag, ...]:
    """Entities in the same articles as ``entity_id`` over ``[since, until]`` (inclusive),
    from the ``cooccurring_with`` macro (docs/QUERIES.md; its ``until`` is exclusive)."""
    rows = con.execute(
        "SELECT entity_id, coalesce(name, entity_id), articles "
        "FROM cooccurring_with($id, $since, CAST($until AS DATE) + 1) LIMIT $limit",
        {"id": entity_id, "since": since, "until": until, "limit": limit},
    ).fetchall()
    return tuple(EntityTag(str(e), str(n), int(c)) for e, n, c in rows)


def newest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    row = con.execute("SELECT max(published_day) FROM articles").fetchone()
    return row[0] if row else None
