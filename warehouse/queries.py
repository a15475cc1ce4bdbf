"""Read helpers the flow and CLI need. Each opens the file read-only for one query and
closes it at once (DuckDB readers block writers), or takes an open connection.
Every helper returns an empty result when the database file does not exist yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from newswatch.core.records import FeedState, PageFailureRecord
from newswatch.warehouse.db import connect, has_table

if TYPE_CHECKING:
    # identity.py pulls MinHash (datasketch, scipy): imported where the flow needs it, in
    # identity_candidates, so the analyst commands that read trends here do not pay for it.
    from newswatch.extractors.identity import StoredBody

_FEED_STATE_FIELDS = tuple(FeedState.__dataclass_fields__)


def feed_states(db_path: Path, *, lock_timeout: float = 30.0) -> dict[str, FeedState]:
    """What the warehouse remembers per feed (ETag, Last-Modified, failures, next poll)."""
    if not Path(db_path).exists():
        return {}
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "feed_state"):
            return {}
        present = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feed_state' "
                "AND database_name = current_database()"
            ).fetchall()
        }  # a file not migrated yet (read-only opens never migrate) lacks newer columns
        names = [f for f in _FEED_STATE_FIELDS if f in present]
        rows = con.execute(f"SELECT {', '.join(names)} FROM feed_state").fetchall()
    states = [FeedState(**dict(zip(names, row, strict=True))) for row in rows]
    return {s.source_id: s for s in states}


def known_urls(db_path: Path, urls: Sequence[str], *, lock_timeout: float = 30.0) -> set[str]:
    """The subset of ``urls`` already stored: an article's url or canonical_url, or an
    alias's (``article_aliases``: the same article met at another URL)."""
    if not urls or not Path(db_path).exists():
        return set()
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "articles"):
            return set()
        aliases = (
            """
               OR w.url IN (SELECT url FROM article_aliases)
               OR w.url IN (SELECT canonical_url FROM article_aliases)"""
            if has_table(con, "article_aliases")
            else ""
        )  # a file not migrated yet (read-only opens never migrate) has no aliases
        rows = con.execute(
            f"""
            WITH wanted AS (SELECT DISTINCT unnest($urls) AS url)
            SELECT w.url FROM wanted AS w
            WHERE w.url IN (SELECT url FROM articles)
               OR w.url IN (SELECT canonical_url FROM articles){aliases}
            """,
            {"urls": list(urls)},
        ).fetchall()
    return {row[0] for row in rows}


_FAILURE_FIELDS = tuple(PageFailureRecord.__dataclass_fields__)


def page_failures(
    db_path: Path,
    urls: Sequence[str],
    now: datetime,
    *,
    due_limit: int = 500,
    lock_timeout: float = 30.0,
) -> tuple[dict[str, PageFailureRecord], list[PageFailureRecord]]:
    """Failed page fetches: those among ``urls`` not resolved (pending or given up), and
    up to ``due_limit`` pending ones due at ``now`` (longest waiting first), listed or not."""
    if not Path(db_path).exists():
        return {}, []
    columns = ", ".join(_FAILURE_FIELDS)
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "page_failures"):
            return {}, []
        listed = con.execute(
            f"SELECT {columns} FROM page_failures "
            "WHERE status <> 'resolved' AND url IN (SELECT unnest($urls))",
            {"urls": list(urls)},
        ).fetchall()
        due = con.execute(
            f"SELECT {columns} FROM page_failures "
            "WHERE status = 'pending' AND next_attempt_at <= $now "
            "ORDER BY next_attempt_at, url LIMIT $limit",
            {"now": now, "limit": due_limit},
        ).fetchall()
    known = [_failure(row) for row in listed]
    return {f.url: f for f in known}, [_failure(row) for row in due]


def _failure(row: tuple[Any, ...]) -> PageFailureRecord:
    values = dict(zip(_FAILURE_FIELDS, row, strict=True))
    values["authors"] = tuple(values["authors"] or ())
    values["tags"] = tuple(values["tags"] or ())
    return PageFailureRecord(**values)


def identity_candidates(
    db_path: Path,
    article_ids: Sequence[str],
    body_hashes: Sequence[str],
    content_hashes: Sequence[str],
    canonical_urls: Sequence[str],
    since: datetime,
    source_ids: Sequence[str],
    *,
    lock_timeout: float = 30.0,
) -> tuple[list[StoredBody], dict[str, str]]:
    """What content identity compares new pages with (``extractors/identity.py``).

    Stored articles whose article_id, body_hash or content_hash is among the given ones
    (any age), plus the articles of ``source_ids`` first seen since ``since`` (for
    near-duplicates by signature); and {canonical_url: article_id} of aliases with one of
    ``canonical_urls``.
    """
    from newswatch.extractors.identity import StoredBody

    if not Path(db_path).exists():
        return [], {}
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "articles"):
            return [], {}
        migrated = has_table(con, "article_aliases")
        body_hash = "body_hash" if migrated else "NULL"
        rows = con.execute(
            f"""
            SELECT article_id, source_id, coalesce(story_id, article_id), title,
                   {body_hash}, content_hash, story_signature
            FROM articles
            WHERE article_id IN (SELECT unnest($ids))
               OR content_hash IN (SELECT unnest($content))
               OR {body_hash} IN (SELECT unnest($bodies))
               OR (first_seen_at >= $since AND source_id IN (SELECT unnest($sources)))
            """,
            {
                "ids": list(article_ids),
                "content": list(content_hashes),
                "bodies": list(body_hashes),
                "since": since,
                "sources": list(source_ids),
            },
        ).fetchall()
        aliases = (
            con.execute(
                "SELECT canonical_url, article_id FROM article_aliases "
                "WHERE canonical_url IN (SELECT unnest($urls))",
                {"urls": list(canonical_urls)},
            ).fetchall()
            if migrated
            else []
        )
    stored = [
        StoredBody(
            article_id=a,
            source_id=src,
            story_id=story,
            title=title,
            body_hash=body,
            content_hash=content,
            signature=tuple(sig or ()),
        )
        for a, src, story, title, body, content, sig in rows
    ]
    return stored, {str(url): str(article) for url, article in aliases}


def story_signatures(
    db_path: Path, since: datetime, *, lock_timeout: float = 30.0
) -> list[tuple[str, str, tuple[int, ...]]]:
    """(article_id, story_id, signature) of articles first seen since ``since``.

    Articles stored without a story id get their own article_id as story id; articles
    without a signature are left out.
    """
    if not Path(db_path).exists():
        return []
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "articles"):
            return []
        rows = con.execute(
            """
            SELECT article_id, coalesce(story_id, article_id), story_signature
            FROM articles
            WHERE first_seen_at >= $since AND len(story_signature) > 0
            ORDER BY first_seen_at, article_id
            """,
            {"since": since},
        ).fetchall()
    return [(a, s, tuple(sig)) for a, s, sig in rows]


# Stored articles sharing a band key with the probe (a registered Arrow table of the new
# pages' keys), in two statements: the ids first (from story_bands, written at load,
# migration 11; a file without that table gets the keys computed from the signatures, which
# reads every signature), then the rows of those ids only. As one statement DuckDB built its
# hash table on the articles side (every signature of the window copied into it) and read
# every row's signature before the join: about 40 % of the query on a fresh connection with
# 300 k stored articles (bench/pipeline/dedup.py); with the ids as a table of known size the
# few thousand hits are the build side, and a batch without hits stops after the first.
_STORY_HITS = "SELECT DISTINCT article_id FROM {bands} SEMI JOIN probe USING (band, key)"
_STORY_HIT_ROWS = """
SELECT article_id, coalesce(story_id, article_id), story_signature
FROM articles SEMI JOIN hit USING (article_id)
WHERE first_seen_at >= $since AND len(story_signature) = {perm}
ORDER BY first_seen_at, article_id
"""
_STORED_BANDS = "(SELECT band, key, article_id FROM story_bands WHERE first_seen_at >= $since)"
_COMPUTED_BANDS = """(
    SELECT unnest(range({count})) AS band,
           unnest(list_transform(range({count}),
                  b -> (story_signature[2 * b + 1] << 32) | story_signature[2 * b + 2])) AS key,
           article_id
    FROM articles
    WHERE first_seen_at >= $since AND len(story_signature) = {perm}
)"""


def story_candidates(
    db_path: Path,
    signatures: Sequence[tuple[int, ...]],
    since: datetime,
    *,
    lock_timeout: float = 30.0,
) -> list[tuple[str, str, tuple[int, ...]]]:
    """(article_id, story_id, signature) of the articles first seen since ``since`` that
    share an LSH band with one of ``signatures`` (``extractors/dedup.py: band_keys``): the
    only stored articles a story assignment can pick, so the run loads those, not every
    signature of the window. Same row shape and order as ``story_signatures``."""
    import numpy as np
    import pyarrow as pa

    from newswatch.extractors.dedup import BANDS, NUM_PERM, ROWS_PER_BAND, band_key_matrix

    assert ROWS_PER_BAND == 2, "the SQL keys are pairs of signature values"
    full = [sig for sig in signatures if len(sig) == NUM_PERM]  # others have no bands
    if not full or not Path(db_path).exists():
        return []
    keys = band_key_matrix(np.asarray(full, dtype=np.uint64))  # (pages, BANDS), one C pass
    probe = pa.table(
        {
            "band": pa.array(np.tile(np.arange(BANDS, dtype=np.int32), len(full))),
            "key": pa.array(keys.ravel()),
        }
    )
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "articles"):
            return []
        source = (
            _STORED_BANDS
            if has_table(con, "story_bands")
            else _COMPUTED_BANDS.format(count=BANDS, perm=NUM_PERM)
        )
        con.register("probe", probe)
        hit = con.execute(_STORY_HITS.format(bands=source), {"since": since}).to_arrow_table()
        if hit.num_rows == 0:
            return []
        con.register("hit", hit)
        table = con.execute(
            _STORY_HIT_ROWS.format(perm=NUM_PERM), {"since": since}
        ).to_arrow_table()
    if table.num_rows == 0:
        return []
    ids, stories = table.column(0).to_pylist(), table.column(1).to_pylist()
    values = table.column(2).combine_chunks().flatten().to_numpy()
    signatures_out = values.reshape(-1, NUM_PERM).tolist()  # one C pass, not 64 per row
    # zip over map(tuple): 3x faster than a comprehension unpacking each row (18 k rows)
    return list(zip(ids, stories, map(tuple, signatures_out), strict=True))


@dataclass(frozen=True)
class EntityMatch:
    """An entity a name stands for (``entity_lookup`` in ``warehouse/trends.py``)."""

    entity_id: str
    name: str
    matched_as: str  # 'id', 'name', 'alias' (recorded on mentions) or 'prefix'
    matched: str  # the id, name or alias as stored


def entity_matches(con: duckdb.DuckDBPyConnection, text: str) -> list[EntityMatch]:
    """The entities ``text`` names exactly, any case: by id, else by name, else by a
    catalogue alias recorded on mentions (the ``entity_lookup`` macro, which the trend macros
    use too). Several only when one name fits several entities equally well.

    A file not migrated yet (schema migration 8 made ``entity_lookup``; read-only opens
    never migrate) is searched by id or name only, as before it."""
    if not _has_macro(con, "entity_lookup"):
        rows = con.execute(
            """
            SELECT entity_id, name, CASE WHEN entity_id = $q THEN 'id' ELSE 'name' END,
                   CASE WHEN entity_id = $q THEN entity_id ELSE name END
            FROM entities WHERE entity_id = $q OR lower(name) = lower($q)
            ORDER BY entity_id = $q DESC, entity_id
            LIMIT 1
            """,
            {"q": text},
        ).fetchall()
    else:
        rows = con.execute(
            "SELECT entity_id, name, matched_as, matched FROM entity_lookup($q)", {"q": text}
        ).fetchall()
    return [EntityMatch(*(str(v) for v in row)) for row in rows]


def _has_macro(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_functions() "
        "WHERE function_name = $name AND database_name = current_database()",
        {"name": name},
    ).fetchone()
    return bool(row and row[0])


def resolve_entity(con: duckdb.DuckDBPyConnection, entity: str) -> str | None:
    """The entity_id ``entity`` names (id, name or recorded alias, any case); None when it
    names none or several."""
    matches = entity_matches(con, entity)
    return matches[0].entity_id if len(matches) == 1 else None


def entity_candidates(
    con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 10
) -> list[tuple[str, str]]:
    """(entity_id, name) of entities whose id, name or a recorded alias starts with ``text``
    (any case), by id."""
    rows = con.execute(
        """
        WITH wanted AS (SELECT lower(trim($q)) AS k)
        SELECT e.entity_id, e.name FROM entities AS e, wanted AS w
        WHERE starts_with(lower(e.entity_id), w.k) OR starts_with(lower(e.name), w.k)
           OR e.entity_id IN (
               SELECT entity_id FROM mentions WHERE starts_with(lower(alias), w.k))
        ORDER BY e.entity_id
        LIMIT $limit
        """,
        {"q": text, "limit": limit},
    ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


@dataclass(frozen=True)
class TrendWindow:
    """The days a series counts: ``first_day`` (``since`` moved back to the start of its
    period) to ``last_day`` (``until``, else the newest article's day; None: no articles)."""

    first_day: date
    last_day: date | None
    periods: int


def trend_window(
    con: duckdb.DuckDBPyConnection, *, bucket: str, since: date, until: date | None = None
) -> TrendWindow:
    """The window ``entity_trend`` (and every dense series macro) covers, and its periods."""
    _check_bucket(bucket)
    row = con.execute(
        "SELECT w.first_day, w.last_day, "
        "(SELECT count(*) FROM trend_periods($bucket, $since, $until)) "
        "FROM trend_window($bucket, $since, $until) AS w",
        {"bucket": bucket, "since": since, "until": until},
    ).fetchone()
    assert row is not None  # a one-row macro
    return TrendWindow(first_day=row[0], last_day=row[1], periods=int(row[2]))


def entity_trend(
    con: duckdb.DuckDBPyConnection,
    entity_id: str,
    *,
    bucket: str,
    since: date,
    until: date | None = None,
) -> duckdb.DuckDBPyRelation:
    """Mentions, articles and stories of one entity per day, week or month: one row per
    period of :func:`trend_window`, 0 where nothing mentioned it.

    Days come from the ``entity_daily`` rollup (a few hundred rows); weeks and months from
    the base tables, so a story spanning two days of one week counts once.
    """
    _check_bucket(bucket)
    # `until` only when given: a file not migrated yet has the three-argument macros
    params: dict[str, object] = {"entity": entity_id, "since": since}
    last = ""
    if until is not None:
        params["until"] = until
        last = ", $until"
    if bucket == "day":
        return con.sql(
            "SELECT day AS period, mentions, articles, stories "
            f"FROM entity_daily_series($entity, $since{last})",
            params=params,
        )
    return con.sql(
        f"SELECT * FROM entity_series($entity, $bucket, $since{last})",
        params={**params, "bucket": bucket},
    )


def _check_bucket(bucket: str) -> None:
    if bucket not in {"day", "week", "month"}:
        raise ValueError(f"bucket must be day, week or month, not {bucket!r}")
