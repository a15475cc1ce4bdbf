"""Read everything the HTML trend report shows, in one read-only connection.

The report covers a window of days ``[since, until]`` over ``published_day`` (the UTC day of
``published_at``, or of ``first_seen_at`` when an article has no date; see
``warehouse/trends.py``). A story is ``coalesce(story_id, article_id)``. A spike is a day on
which an entity's article count stands ``SPIKE_Z`` standard deviations (at least 1) above its
mean over the 28 days before, with at least ``SPIKE_MIN_ARTICLES`` articles. The score is
the ``entity_spikes`` macro's (``warehouse/trends.py``, docs/QUERIES.md), read from it so that
the report and an analyst's query always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb

from newswatch.warehouse.db import connect, has_table

DEFAULT_WINDOW_DAYS = 90
NEW_STORY_DAYS = 7
SPIKE_Z = 3.0
SPIKE_MIN_ARTICLES = 3


@dataclass(frozen=True)
class ReportWindow:
    since: date
    until: date
    new_since: date  # stories whose first day is on or after this one are "new"


@dataclass(frozen=True)
class SeriesPoint:
    day: date
    mentions: int
    stories: int
    articles: int
    z: float

    @property
    def is_spike(self) -> bool:
        return self.z >= SPIKE_Z and self.articles >= SPIKE_MIN_ARTICLES


@dataclass(frozen=True)
class EntitySeries:
    entity_id: str
    name: str
    mentions: int
    stories: int
    points: tuple[SeriesPoint, ...]  # one per day of the window, zeros included

    @property
    def spikes(self) -> tuple[SeriesPoint, ...]:
        return tuple(p for p in self.points if p.is_spike)


@dataclass(frozen=True)
class PairCount:
    entity_a: str
    entity_b: str
    articles: int


@dataclass(frozen=True)
class ShareRow:
    label: str
    articles: int
    on_topic: int
    stories: int


@dataclass(frozen=True)
class NewStory:
    story_id: str
    title: str | None
    outlet: str
    url: str
    day: date
    articles: int
    outlets: int


@dataclass(frozen=True)
class EmergingTerm:
    term: str
    count: int
    outlets: int
    example: str | None


@dataclass(frozen=True)
class ReportTotals:
    articles: int
    on_topic: int
    stories: int
    outlets: int


@dataclass(frozen=True)
class ReportData:
    db_path: str
    generated_at: datetime
    window: ReportWindow
    totals: ReportTotals
    entities: tuple[EntitySeries, ...]
    cooccurrence: tuple[PairCount, ...]
    outlets: tuple[ShareRow, ...]
    languages: tuple[ShareRow, ...]
    new_stories: tuple[NewStory, ...]
    emerging_terms: tuple[EmergingTerm, ...] | None  # None: the table does not exist


def report_data(
    db_path: Path,
    *,
    since: date | None = None,
    top_entities: int = 8,
    max_stories: int = 200,
    max_terms: int = 30,
    lock_timeout: float = 30.0,
) -> ReportData:
    """Everything the report shows, read from ``db_path`` opened read-only."""
    with connect(Path(db_path), read_only=True, lock_timeout=lock_timeout) as con:
        window = report_window(con, since)
        series = entity_series(con, window, limit=top_entities)
        ids = [s.entity_id for s in series]
        return ReportData(
            db_path=str(db_path),
            generated_at=datetime.now(UTC),
            window=window,
            totals=totals(con, window),
            entities=series,
            cooccurrence=cooccurrence(con, window, ids),
            outlets=shares(con, window, "outlet"),
            languages=shares(con, window, "language"),
            new_stories=new_stories(con, window, limit=max_stories),
            emerging_terms=(
                emerging_terms(con, window, limit=max_terms)
                if has_table(con, "emerging_terms")
                else None
            ),
        )


def report_window(con: duckdb.DuckDBPyConnection, since: date | None) -> ReportWindow:
    """``until`` is the last day with an article (today for an empty file); by default the
    window spans the last ``DEFAULT_WINDOW_DAYS`` days, or fewer when the data is younger."""
    row = con.execute("SELECT min(published_day), max(published_day) FROM articles").fetchone()
    first, last = row if row else (None, None)
    until = last if last is not None else datetime.now(UTC).date()
    if since is None:
        since = max(until - timedelta(days=DEFAULT_WINDOW_DAYS - 1), first or until)
    start = min(since, until)
    new_since = max(start, until - timedelta(days=NEW_STORY_DAYS - 1))
    return ReportWindow(since=start, until=until, new_since=new_since)


def totals(con: duckdb.DuckDBPyConnection, window: ReportWindow) -> ReportTotals:
    row = con.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE on_topic),
               count(DISTINCT coalesce(story_id, article_id)), count(DISTINCT outlet)
        FROM articles
        WHERE published_day BETWEEN $since AND $until
        """,
        _window_params(window),
    ).fetchone()
    assert row is not None
    return ReportTotals(*(int(v) for v in row))


def entity_series(
    con: duckdb.DuckDBPyConnection, window: ReportWindow, *, limit: int
) -> tuple[EntitySeries, ...]:
    """The ``limit`` entities in the most stories of the window, with a dense daily series."""
    top = con.execute(
        """
        SELECT m.entity_id,
               coalesce(any_value(e.name), m.entity_id)        AS name,
               sum(m.count)                                    AS mentions,
               count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        LEFT JOIN entities AS e ON e.entity_id = m.entity_id
        WHERE m.published_day BETWEEN $since AND $until
        GROUP BY m.entity_id
        ORDER BY stories DESC, mentions DESC, m.entity_id
        LIMIT $limit
        """,
        {**_window_params(window), "limit": limit},
    ).fetchall()
    if not top:
        return ()
    ids = [row[0] for row in top]
    rows = con.execute(
        """
        WITH daily AS (
            SELECT m.entity_id, m.published_day AS day,
                   sum(m.count)                                       AS mentions,
                   count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories,
                   count(*)                                           AS articles
            FROM mentions AS m
            JOIN articles AS a USING (article_id)
            WHERE m.entity_id IN (SELECT unnest($ids))
              AND m.published_day BETWEEN $since AND $until
            GROUP BY 1, 2
        ),
        days AS (
            SELECT CAST(unnest(generate_series(
                       CAST(CAST($since AS DATE) AS TIMESTAMP),
                       CAST(CAST($until AS DATE) AS TIMESTAMP),
                       INTERVAL 1 DAY)) AS DATE) AS day
        )
        SELECT ids.entity_id, days.day,
               coalesce(daily.mentions, 0) AS mentions,
               coalesce(daily.stories, 0)  AS stories,
               coalesce(daily.articles, 0) AS articles,
               coalesce(spikes.z, 0)       AS z
        FROM (SELECT unnest($ids) AS entity_id) AS ids
        CROSS JOIN days
        LEFT JOIN daily ON daily.entity_id = ids.entity_id AND daily.day = days.day
        LEFT JOIN entity_spikes($since) AS spikes
               ON spikes.entity_id = ids.entity_id AND spikes.day = days.day
        ORDER BY ids.entity_id, days.day
        """,
        {**_window_params(window), "ids": ids},
    ).fetchall()
    points: dict[str, list[SeriesPoint]] = {entity_id: [] for entity_id in ids}
    for entity_id, day, mentions, stories, articles, z in rows:
        points[entity_id].append(
            SeriesPoint(day, int(mentions), int(stories), int(articles), float(z))
        )
    return tuple(
        EntitySeries(entity_id, name, int(mentions), int(stories), tuple(points[entity_id]))
        for entity_id, name, mentions, stories in top
    )


def cooccurrence(
    con: duckdb.DuckDBPyConnection, window: ReportWindow, entity_ids: list[str]
) -> tuple[PairCount, ...]:
    """Articles of the window mentioning both entities, for each pair of ``entity_ids``."""
    if len(entity_ids) < 2:
        return ()
    rows = con.execute(
        """
        WITH hits AS (
            SELECT DISTINCT article_id, entity_id FROM mentions
            WHERE published_day BETWEEN $since AND $until
              AND entity_id IN (SELECT unnest($ids))
        )
        SELECT a.entity_id, b.entity_id, count(*) AS articles
        FROM hits AS a
        JOIN hits AS b ON a.article_id = b.article_id AND a.entity_id < b.entity_id
        GROUP BY 1, 2
        ORDER BY articles DESC, 1, 2
        """,
        {**_window_params(window), "ids": entity_ids},
    ).fetchall()
    return tuple(PairCount(a, b, int(n)) for a, b, n in rows)


_SHARE_EXPRESSIONS = {"outlet": "outlet", "language": "coalesce(language, 'und')"}


def shares(
    con: duckdb.DuckDBPyConnection,
    window: ReportWindow,
    by: Literal["outlet", "language"],
    *,
    limit: int = 15,
) -> tuple[ShareRow, ...]:
    """Articles, on-topic articles and stories per outlet or per language."""
    expression = _SHARE_EXPRESSIONS[by]  # SQL from code, never from users
    rows = con.execute(
        f"""
        SELECT {expression} AS label, count(*) AS articles,
               count(*) FILTER (WHERE on_topic) AS on_topic,
               count(DISTINCT coalesce(story_id, article_id)) AS stories
        FROM articles
        WHERE published_day BETWEEN $since AND $until
        GROUP BY 1
        ORDER BY on_topic DESC, articles DESC, 1
        LIMIT $limit
        """,
        {**_window_params(window), "limit": limit},
    ).fetchall()
    return tuple(ShareRow(str(label), int(a), int(o), int(s)) for label, a, o, s in rows)


def new_stories(
    con: duckdb.DuckDBPyConnection, window: ReportWindow, *, limit: int
) -> tuple[NewStory, ...]:
    """On-topic stories whose first article falls in ``[new_since, until]``, newest first."""
    rows = con.execute(
        """
        SELECT coalesce(story_id, article_id)     AS story_id,
               arg_min(title, first_seen_at)      AS title,
               arg_min(outlet, first_seen_at)     AS outlet,
               arg_min(url, first_seen_at)        AS url,
               min(published_day)                 AS day,
               count(*)                           AS articles,
               count(DISTINCT outlet)             AS outlets,
               min(first_seen_at)                 AS first_seen_at
        FROM articles
        WHERE on_topic AND published_day <= $until
        GROUP BY 1
        HAVING min(published_day) >= $new_since
        ORDER BY day DESC, first_seen_at DESC, story_id
        LIMIT $limit
        """,
        {"until": window.until, "new_since": window.new_since, "limit": limit},
    ).fetchall()
    return tuple(
        NewStory(story_id, title, outlet, url, day, int(articles), int(outlets))
        for story_id, title, outlet, url, day, articles, outlets, _first_seen_at in rows
    )


def emerging_terms(
    con: duckdb.DuckDBPyConnection, window: ReportWindow, *, limit: int
) -> tuple[EmergingTerm, ...]:
    """Terms recorded by runs of the window (or undated), summed over runs."""
    rows = con.execute(
        """
        SELECT term, sum(count) AS count, max(outlets) AS outlets,
               arg_max(example, count) AS example
        FROM emerging_terms
        WHERE first_seen_at IS NULL OR CAST(first_seen_at AS DATE) >= $since
        GROUP BY term
        ORDER BY count DESC, term
        LIMIT $limit
        """,
        {"since": window.since, "limit": limit},
    ).fetchall()
    return tuple(EmergingTerm(t, int(c), int(o), e) for t, c, o, e in rows)


def _window_params(window: ReportWindow) -> dict[str, date]:
    return {"since": window.since, "until": window.until}
