"""Read everything the HTML trend report shows, in one read-only connection.

The report covers a window of days ``[since, until]`` over ``published_day`` (the day of
``published_at`` in the offset the article declared, else UTC's, or of ``first_seen_at``
when an article has no date; see ``warehouse/trends.py``), cut into weeks that end on
``until`` (the last week is always a whole one, so "this week" is the last seven days; only
the first can be partial). A story is ``coalesce(story_id, article_id)``.

By default the window is the last ``DEFAULT_WINDOW_WEEKS`` weeks, or the whole of the data
when it spans less; ``ReportWindow`` also says what the data spans and how many articles
fall before the window, so the page can state both.

Entities are read by display group (``EntityRoles.groups``: a government shown with its
country) and split by ``EntityRoles.topic_specific``: topic entities get a weekly series
each, the others (context: countries, governments, ...) a summary row. The roles come from
the entity catalogue (``newswatch/report/roles.py``); this module only takes them as data.

A spike is a day on which an entity's article count stands ``SPIKE_Z`` standard deviations
(at least 1) above its mean over the 28 days before, with at least ``SPIKE_MIN_ARTICLES``
articles: the ``entity_spikes`` macro's rows (``warehouse/trends.py``, docs/QUERIES.md), so
that the report and an analyst's query always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb

from newswatch.warehouse.db import connect, has_table

DEFAULT_WINDOW_WEEKS = 26
NEW_STORY_DAYS = 7  # "new this week": the window's last week
SPIKE_Z = 3.0
SPIKE_MIN_ARTICLES = 3
SUMMARY_CHARS = 400  # of an article's summary (or text) read for the one-line summary


@dataclass(frozen=True)
class EntityRoles:
    """How the report treats entities; built from the catalogue by the report."""

    topic_specific: frozenset[str] = frozenset()  # plotted, one weekly panel each
    groups: Mapping[str, str] = field(default_factory=dict)  # member id -> id shown
    names: Mapping[str, str] = field(default_factory=dict)  # the catalogue's names
    source: str = ""  # where the roles came from (shown on the page)

    def head(self, entity_id: str) -> str:
        return self.groups.get(entity_id, entity_id)


@dataclass(frozen=True)
class Week:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class ReportWindow:
    since: date
    until: date
    new_since: date  # stories whose first day is on or after this one are "new"
    weeks: tuple[Week, ...] = ()  # oldest first, the last ends on ``until``
    data_first: date | None = None  # the data's span (None: no article at all)
    data_last: date | None = None
    data_articles: int = 0  # articles in the whole file
    articles_before: int = 0  # articles of the file published before ``since``
    default: bool = True  # ``since`` was chosen by the report, not given

    def week_index(self, day: date) -> int:
        """The index in ``weeks`` of the week holding ``day`` (a day of the window)."""
        return len(self.weeks) - 1 - (self.until - day).days // 7


@dataclass(frozen=True)
class WeekCount:
    mentions: int = 0
    stories: int = 0
    articles: int = 0


@dataclass(frozen=True)
class Spike:
    entity_id: str
    day: date
    articles: int
    z: float


@dataclass(frozen=True)
class EntityWeeks:
    entity_id: str  # the display group's id (the head entity)
    name: str
    member_ids: tuple[str, ...]  # every entity id counted here, the head first
    member_names: tuple[str, ...]  # names of the members other than the head
    topic_specific: bool
    mentions: int
    stories: int
    weeks: tuple[WeekCount, ...]  # aligned with ``ReportWindow.weeks``
    spikes: tuple[Spike, ...] = ()  # spike days of any member in the window


@dataclass(frozen=True)
class WeekTotals:
    articles: int = 0
    on_topic: int = 0
    stories: int = 0  # on-topic stories with an article that week
    new_stories: int = 0  # on-topic stories whose first article is that week


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
    outlet_names: tuple[str, ...] = ()
    summary: str | None = None  # the first article's summary, else the start of its text


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
    weekly: tuple[WeekTotals, ...]  # aligned with ``window.weeks``
    topic_entities: tuple[EntityWeeks, ...]
    context_entities: tuple[EntityWeeks, ...]
    cooccurrence: tuple[PairCount, ...]  # over display-group ids
    cooccurrence_ids: tuple[str, ...]  # the groups paired: top topic, then top context
    outlets: tuple[ShareRow, ...]
    languages: tuple[ShareRow, ...]
    new_stories: tuple[NewStory, ...]
    emerging_terms: tuple[EmergingTerm, ...] | None  # None: the table does not exist
    roles: EntityRoles = field(default_factory=EntityRoles)

    @property
    def entities(self) -> tuple[EntityWeeks, ...]:
        return self.topic_entities + self.context_entities


def report_data(
    db_path: Path,
    *,
    since: date | None = None,
    weeks: int = DEFAULT_WINDOW_WEEKS,
    roles: EntityRoles | None = None,
    topic_entities: int = 12,
    context_entities: int = 10,
    cooccurrence_context: int = 4,
    max_stories: int = 200,
    max_terms: int = 30,
    lock_timeout: float = 30.0,
) -> ReportData:
    """Everything the report shows, read from ``db_path`` opened read-only."""
    roles = roles or EntityRoles()
    with connect(Path(db_path), read_only=True, lock_timeout=lock_timeout) as con:
        window = report_window(con, since, weeks=weeks)
        topic, context = entity_weeks(
            con, window, roles, topic_limit=topic_entities, context_limit=context_entities
        )
        pair_ids = [e.entity_id for e in topic[:8] + context[:cooccurrence_context]]
        return ReportData(
            db_path=str(db_path),
            generated_at=datetime.now(UTC),
            window=window,
            totals=totals(con, window),
            weekly=weekly_totals(con, window),
            topic_entities=topic,
            context_entities=context,
            cooccurrence=cooccurrence(con, window, roles, pair_ids),
            cooccurrence_ids=tuple(pair_ids),
            outlets=shares(con, window, "outlet"),
            languages=shares(con, window, "language"),
            new_stories=new_stories(con, window, limit=max_stories),
            emerging_terms=(
                emerging_terms(con, window, limit=max_terms)
                if has_table(con, "emerging_terms")
                else None
            ),
            roles=roles,
        )


def report_window(
    con: duckdb.DuckDBPyConnection, since: date | None, *, weeks: int = DEFAULT_WINDOW_WEEKS
) -> ReportWindow:
    """``until`` is the last day with an article (today for an empty file); by default the
    window is the last ``weeks`` weeks, or the whole data when it spans less."""
    row = con.execute(
        "SELECT min(published_day), max(published_day), count(*) FROM articles"
    ).fetchone()
    first, last, count = row if row else (None, None, 0)
    until = last if last is not None else datetime.now(UTC).date()
    default = since is None
    if since is None:
        since = max(until - timedelta(days=7 * max(weeks, 1) - 1), first or until)
    start = min(since, until)
    before_row = con.execute(
        "SELECT count(*) FROM articles WHERE published_day < $since", {"since": start}
    ).fetchone()
    return ReportWindow(
        since=start,
        until=until,
        new_since=max(start, until - timedelta(days=NEW_STORY_DAYS - 1)),
        weeks=week_buckets(start, until),
        data_first=first,
        data_last=last,
        data_articles=int(count or 0),
        articles_before=int(before_row[0]) if before_row else 0,
        default=default,
    )


def week_buckets(since: date, until: date) -> tuple[Week, ...]:
    """Seven-day weeks ending on ``until``, back to ``since`` (the first may be shorter)."""
    weeks = []
    end = until
    while end >= since:
        weeks.append(Week(max(end - timedelta(days=6), since), end))
        end -= timedelta(days=7)
    return tuple(reversed(weeks))


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


# The week of a day, counted back from the window's last week (0 = the last).
_WEEKS_BACK = "CAST(date_diff('day', {day}, CAST($until AS DATE)) // 7 AS INTEGER)"


def weekly_totals(con: duckdb.DuckDBPyConnection, window: ReportWindow) -> tuple[WeekTotals, ...]:
    """Articles, on-topic articles, on-topic stories and new on-topic stories per week."""
    rows = con.execute(
        f"""
        WITH per_week AS (
            SELECT {_WEEKS_BACK.format(day="published_day")} AS back,
                   count(*)                                  AS articles,
                   count(*) FILTER (WHERE on_topic)          AS on_topic,
                   count(DISTINCT coalesce(story_id, article_id)) FILTER (WHERE on_topic)
                                                             AS stories
            FROM articles
            WHERE published_day BETWEEN $since AND $until
            GROUP BY 1
        ),
        firsts AS (
            SELECT min(published_day) AS first_day
            FROM articles
            WHERE on_topic
            GROUP BY coalesce(story_id, article_id)
        ),
        new_per_week AS (
            SELECT {_WEEKS_BACK.format(day="first_day")} AS back, count(*) AS new_stories
            FROM firsts
            WHERE first_day BETWEEN $since AND $until
            GROUP BY 1
        )
        SELECT coalesce(p.back, n.back), coalesce(p.articles, 0), coalesce(p.on_topic, 0),
               coalesce(p.stories, 0), coalesce(n.new_stories, 0)
        FROM per_week AS p
        FULL JOIN new_per_week AS n USING (back)
        """,
        _window_params(window),
    ).fetchall()
    by_back = {int(back): WeekTotals(*(int(v) for v in rest)) for back, *rest in rows}
    n = len(window.weeks)
    return tuple(by_back.get(n - 1 - i, WeekTotals()) for i in range(n))


def entity_weeks(
    con: duckdb.DuckDBPyConnection,
    window: ReportWindow,
    roles: EntityRoles,
    *,
    topic_limit: int,
    context_limit: int,
) -> tuple[tuple[EntityWeeks, ...], tuple[EntityWeeks, ...]]:
    """The topic-specific display groups in the most stories (a weekly series each, spikes
    marked), then the context groups in the most stories (same shape, shown as a table)."""
    params = {**_window_params(window), **_group_params(roles)}
    rows = con.execute(
        f"""
        WITH {_GROUPS_CTE},
        hits AS (
            SELECT coalesce(g.group_id, m.entity_id)  AS group_id,
                   m.entity_id, m.article_id, m.count, m.published_day,
                   coalesce(a.story_id, a.article_id) AS story
            FROM mentions AS m
            JOIN articles AS a USING (article_id)
            LEFT JOIN groups AS g USING (entity_id)
            WHERE m.published_day BETWEEN $since AND $until
        )
        SELECT group_id, list(DISTINCT entity_id ORDER BY entity_id),
               sum(count), count(DISTINCT story)
        FROM hits
        GROUP BY 1
        ORDER BY 4 DESC, 3 DESC, 1
        """,
        params,
    ).fetchall()
    names = dict(con.execute("SELECT entity_id, name FROM entities").fetchall())
    topic: list[Any] = []
    context: list[Any] = []
    for group_id, members, mentions, stories in rows:
        is_topic = any(member in roles.topic_specific for member in members)
        chosen, limit = (topic, topic_limit) if is_topic else (context, context_limit)
        if len(chosen) < limit:
            chosen.append((group_id, tuple(members), int(mentions), int(stories), is_topic))
    selected = [g[0] for g in topic + context]
    weekly = _group_weeks(con, window, roles, selected)
    spikes = _spikes(con, window, [m for g in topic for m in g[1]])

    def build(group: tuple[str, tuple[str, ...], int, int, bool]) -> EntityWeeks:
        group_id, members, mentions, stories, is_topic = group
        ordered = (group_id, *sorted(m for m in members if m != group_id))
        return EntityWeeks(
            entity_id=group_id,
            name=_name(group_id, names, roles),
            member_ids=ordered,
            member_names=tuple(_name(m, names, roles) for m in ordered[1:]),
            topic_specific=is_topic,
            mentions=mentions,
            stories=stories,
            weeks=weekly.get(group_id, tuple(WeekCount() for _ in window.weeks)),
            spikes=tuple(s for m in members for s in spikes.get(m, ())),
        )

    return tuple(build(g) for g in topic), tuple(build(g) for g in context)


def _group_weeks(
    con: duckdb.DuckDBPyConnection,
    window: ReportWindow,
    roles: EntityRoles,
    group_ids: list[str],
) -> dict[str, tuple[WeekCount, ...]]:
    if not group_ids:
        return {}
    rows = con.execute(
        f"""
        WITH {_GROUPS_CTE},
        hits AS (
            SELECT coalesce(g.group_id, m.entity_id)  AS group_id,
                   {_WEEKS_BACK.format(day="m.published_day")} AS back,
                   m.article_id, m.count,
                   coalesce(a.story_id, a.article_id) AS story
            FROM mentions AS m
            JOIN articles AS a USING (article_id)
            LEFT JOIN groups AS g USING (entity_id)
            WHERE m.published_day BETWEEN $since AND $until
        )
        SELECT group_id, back, sum(count), count(DISTINCT story), count(DISTINCT article_id)
        FROM hits
        WHERE group_id IN (SELECT unnest($ids::VARCHAR[]))
        GROUP BY 1, 2
        """,
        {**_window_params(window), **_group_params(roles), "ids": group_ids},
    ).fetchall()
    n = len(window.weeks)
    counts: dict[str, list[WeekCount]] = {g: [WeekCount()] * n for g in group_ids}
    for group_id, back, mentions, stories, articles in rows:
        counts[group_id][n - 1 - int(back)] = WeekCount(int(mentions), int(stories), int(articles))
    return {g: tuple(c) for g, c in counts.items()}


def _spikes(
    con: duckdb.DuckDBPyConnection, window: ReportWindow, entity_ids: list[str]
) -> dict[str, tuple[Spike, ...]]:
    if not entity_ids:
        return {}
    rows = con.execute(
        """
        SELECT entity_id, day, articles, z
        FROM entity_spikes($since)
        WHERE entity_id IN (SELECT unnest($ids::VARCHAR[]))
          AND day <= $until AND z >= $z AND articles >= $min_articles
        ORDER BY entity_id, day
        """,
        {
            **_window_params(window),
            "ids": entity_ids,
            "z": SPIKE_Z,
            "min_articles": SPIKE_MIN_ARTICLES,
        },
    ).fetchall()
    spikes: dict[str, list[Spike]] = {}
    for entity_id, day, articles, z in rows:
        spikes.setdefault(entity_id, []).append(Spike(entity_id, day, int(articles), float(z)))
    return {e: tuple(s) for e, s in spikes.items()}


def cooccurrence(
    con: duckdb.DuckDBPyConnection,
    window: ReportWindow,
    roles: EntityRoles,
    group_ids: list[str],
) -> tuple[PairCount, ...]:
    """Articles of the window mentioning both display groups, for each pair of ``group_ids``."""
    if len(group_ids) < 2:
        return ()
    rows = con.execute(
        f"""
        WITH {_GROUPS_CTE},
        chosen AS (
            SELECT DISTINCT m.article_id, coalesce(g.group_id, m.entity_id) AS group_id
            FROM mentions AS m
            LEFT JOIN groups AS g USING (entity_id)
            WHERE m.published_day BETWEEN $since AND $until
              AND coalesce(g.group_id, m.entity_id) IN (SELECT unnest($ids::VARCHAR[]))
        )
        SELECT a.group_id, b.group_id, count(*) AS articles
        FROM chosen AS a
        JOIN chosen AS b ON a.article_id = b.article_id AND a.group_id < b.group_id
        GROUP BY 1, 2
        ORDER BY articles DESC, 1, 2
        """,
        {**_window_params(window), **_group_params(roles), "ids": group_ids},
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
    """On-topic stories whose first article falls in ``[new_since, until]``, newest first,
    with every outlet that carried them and their first article's summary."""
    rows = con.execute(
        """
        WITH recent AS (
            SELECT coalesce(story_id, article_id) AS story_id
            FROM articles
            WHERE on_topic AND published_day <= $until
            GROUP BY 1
            HAVING min(published_day) >= $new_since
        )
        SELECT coalesce(a.story_id, a.article_id) AS story_id,
               arg_min(title, first_seen_at)      AS title,
               arg_min(outlet, first_seen_at)     AS outlet,
               arg_min(url, first_seen_at)        AS url,
               min(published_day)                 AS day,
               count(*)                           AS articles,
               count(DISTINCT outlet)             AS outlets,
               min(first_seen_at)                 AS first_seen_at,
               list(DISTINCT outlet ORDER BY outlet) AS outlet_names,
               arg_min(coalesce(nullif(trim(summary), ''), substr(text, 1, $chars)),
                       first_seen_at)             AS summary
        FROM articles AS a
        SEMI JOIN recent ON recent.story_id = coalesce(a.story_id, a.article_id)
        WHERE on_topic AND published_day <= $until
        GROUP BY 1
        ORDER BY day DESC, first_seen_at DESC, story_id
        LIMIT $limit
        """,
        {
            "until": window.until,
            "new_since": window.new_since,
            "limit": limit,
            "chars": SUMMARY_CHARS,
        },
    ).fetchall()
    return tuple(
        NewStory(
            story_id,
            title,
            outlet,
            url,
            day,
            int(articles),
            int(outlets),
            tuple(outlet_names or ()),
            summary[:SUMMARY_CHARS] if summary else None,
        )
        for (
            story_id,
            title,
            outlet,
            url,
            day,
            articles,
            outlets,
            _first_seen_at,
            outlet_names,
            summary,
        ) in rows
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


# Display groups as a table: (member entity_id, the group's entity_id).
_GROUPS_CTE = """groups AS (
            SELECT unnest($members::VARCHAR[]) AS entity_id,
                   unnest($heads::VARCHAR[])   AS group_id
        )"""


def _group_params(roles: EntityRoles) -> dict[str, list[str]]:
    members = sorted(roles.groups)
    return {"members": members, "heads": [roles.groups[m] for m in members]}


def _name(entity_id: str, names: Mapping[str, str], roles: EntityRoles) -> str:
    return names.get(entity_id) or roles.names.get(entity_id) or entity_id


def _window_params(window: ReportWindow) -> dict[str, date]:
    return {"since": window.since, "until": window.until}
