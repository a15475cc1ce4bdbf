"""What each page of ``newswatch ui`` shows, read in one short read-only connection per
request (never held between requests, so the scheduled load is never kept waiting on it).

Which file is read follows the analyst commands' rule (``newswatch/commands/reading.py``):
the snapshot published after each load, else the live file; ``live`` reads the live file
(read-only) even when a snapshot exists. The choice is made again at every request, so a
snapshot published while the server runs is picked up by the next page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.core.errors import WarehouseError
from newswatch.core.settings import default_snapshot_path
from newswatch.warehouse import queries, search, ui_queries
from newswatch.warehouse.db import connect, has_table
from newswatch.warehouse.ui_queries import (
    EntityArticle,
    EntityProfile,
    EntityTag,
    FilterChoices,
    StoryFilters,
    StoryRow,
)
from newswatch.warehouse.why_queries import Explanation, explain_article, find_article_id

if TYPE_CHECKING:
    import duckdb

# How long a request waits for a writer that holds the live file (``live`` only: the
# snapshot is never locked by a load), before the page says the database is busy.
LOCK_WAIT_SECONDS = 3.0
ENTITY_WEEKS = 52  # the entity page's series: up to this many weeks before its last mention


@dataclass(frozen=True)
class Reader:
    """Where the pages read from; opens nothing until a page asks."""

    db_path: Path
    live: bool = False
    lock_timeout: float = LOCK_WAIT_SECONDS

    def path(self) -> Path:
        snapshot = default_snapshot_path(self.db_path)
        if not self.live and snapshot.exists():
            return snapshot
        return self.db_path

    def describe(self) -> str:
        path = self.path()
        if not path.exists():
            return f"{path} (no database there yet)"
        if path != self.db_path:
            published = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return f"snapshot {path} (published {published:%Y-%m-%d %H:%M} UTC)"
        if not self.live:
            return f"{path} (read-only; no snapshot published yet)"
        return f"{path} (live, read-only)"

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection for one request, closed when the request is answered."""
        path = self.path()
        if not path.exists():
            raise WarehouseError(
                f"no database at {path}: run `newswatch run` first, or pass --db FILE"
            )
        con = connect(path, read_only=True, lock_timeout=self.lock_timeout)
        try:
            if not has_table(con, "articles"):
                raise WarehouseError(f"{path} has no articles table yet")
            yield con
        finally:
            con.close()


@dataclass(frozen=True)
class StoriesPage:
    filters: StoryFilters
    stories: tuple[StoryRow, ...]
    total: int
    offset: int
    limit: int
    choices: FilterChoices


@dataclass(frozen=True)
class WeekRow:
    week: date  # the Monday
    mentions: int
    articles: int
    stories: int


@dataclass(frozen=True)
class EntityPage:
    profile: EntityProfile
    since: date
    until: date
    weeks: tuple[WeekRow, ...]  # every week of [since, until], zeros included
    cooccurring: tuple[EntityTag, ...]
    articles: tuple[EntityArticle, ...]

    @property
    def peak(self) -> int:
        return max((w.articles for w in self.weeks), default=0)


@dataclass(frozen=True)
class SearchPage:
    query: str
    hits: tuple[search.SearchHit, ...]
    indexed: bool  # False: the file read has no search index (the live file, or no load yet)


def stories_page(
    con: duckdb.DuckDBPyConnection, filters: StoryFilters, *, offset: int, limit: int
) -> StoriesPage:
    return StoriesPage(
        filters=filters,
        stories=ui_queries.story_stream(con, filters, limit=limit, offset=offset),
        total=ui_queries.story_count(con, filters),
        offset=offset,
        limit=limit,
        choices=ui_queries.filter_choices(con),
    )


def entity_page(con: duckdb.DuckDBPyConnection, key: str) -> EntityPage | None:
    """The entity named by id (the pages link by id) or catalogue name ``key``: its weekly
    series over its last year of mentions, the entities met in the same articles then, its
    newest articles."""
    profile = ui_queries.entity_profile(con, key)
    if profile is None:
        entity_id = ui_queries.entity_named(con, key)
        profile = ui_queries.entity_profile(con, entity_id) if entity_id else None
    if profile is None:
        return None
    until = profile.last_day or datetime.now(UTC).date()
    since = max(profile.first_day or until, until - timedelta(weeks=ENTITY_WEEKS) + timedelta(1))
    relation = queries.entity_trend(con, profile.entity_id, bucket="week", since=since)
    columns = relation.columns
    found = {}
    for values in relation.fetchall():
        row = dict(zip(columns, values, strict=True))
        found[row["period"]] = WeekRow(
            row["period"], int(row["mentions"]), int(row["articles"]), int(row["stories"])
        )
    return EntityPage(
        profile=profile,
        since=since,
        until=until,
        weeks=tuple(found.get(week, WeekRow(week, 0, 0, 0)) for week in _mondays(since, until)),
        cooccurring=ui_queries.cooccurring(con, profile.entity_id, since, until),
        articles=ui_queries.entity_articles(con, profile.entity_id),
    )


def why_page(con: duckdb.DuckDBPyConnection, key: str) -> Explanation | None:
    """Everything stored about the article ``key`` names (id, id prefix or URL)."""
    article_id = find_article_id(con, key)
    return explain_article(con, article_id) if article_id else None


def search_page(con: duckdb.DuckDBPyConnection, query: str, *, limit: int = 50) -> SearchPage:
    if not query.strip():
        return SearchPage(query, (), indexed=search.has_index(con))
    if not search.has_index(con):
        return SearchPage(query, (), indexed=False)
    return SearchPage(query, tuple(search.search(con, query, limit=limit)), indexed=True)


def _mondays(since: date, until: date) -> Iterator[date]:
    week = since - timedelta(days=since.weekday())
    while week <= until:
        yield week
        week += timedelta(weeks=1)
