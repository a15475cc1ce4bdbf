"""Load staged batches into DuckDB, one transaction per batch, bulk INSERT … SELECT only.

How each table loads (re-loading a batch changes nothing):

    sources      upsert on source_id (latest batch wins)
    feed_state   upsert on source_id, unless the stored row was polled later
    feed_polls   insert-if-new on (run_id, source_id, fetched_at)
    articles     insert-if-new on article_id; text, dates and status are first-seen-wins.
                 A later batch may only refresh the match results (relevance, on_topic)
                 that travel with its mentions, and set story_id where none was stored
    mentions     replaced per article of the batch (delete, then insert)
    entity_daily recomputed for every day an article of the batch falls on
    runs         upsert on run_id (load counters kept from the first load)
    alerts       outbox rows, insert-if-new on alert_id / (rule, story_id, channel), pending
    entities     upsert on entity_id (the batch's catalogue, or ``load_entities``)
    emerging_terms      insert-if-new on (term, run_id)
    catalogue_versions  insert-if-new on version (the run's catalogue_version)
    article_aliases     insert-if-new on url, only for an article stored (first alias wins)
    page_failures       upsert on url when the batch's attempt is later than the stored
                        one; a row whose URL this batch stores (as article or alias) is
                        marked resolved
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseLocked
from newswatch.core.records import IngestBatch
from newswatch.warehouse import search
from newswatch.warehouse.db import connect, describe_error, is_lake_catalog
from newswatch.warehouse.load_rules import (
    DATA_ERRORS,
    FAILURE_COLUMNS,
    FEED_STATE_COLUMNS,
    INSERT_STORY_BANDS,
    RUN_COLUMNS,
    SOURCE_COLUMNS,
    Added,
    BatchStatements,
    LoadReport,
    prune_loaded,
    read_batch,
    reject,
    report,
    write_batch,
)
from newswatch.warehouse.staging import (
    LOADED_DIR,
    StagedBatch,
    move_batch,
    remove_stale_temporaries,
    staged_batches,
)
from newswatch.warehouse.staging import stage_batch as _stage_batch
from newswatch.warehouse.trends import PUBLISHED_DAY
from newswatch.warehouse.writer_lock import held_here

__all__ = ["LoadReport", "load_entities", "load_staged", "stage_batch"]


def stage_batch(batch: IngestBatch, staging_dir: Path) -> Path:
    """Write the batch as Parquet + manifest into a new directory (atomic rename)."""
    return _stage_batch(batch, staging_dir)


def load_staged(
    db_path: Path,
    staging_dir: Path,
    *,
    lock_timeout: float = 30.0,
    refresh_search: bool = False,
    keep_loaded: int = 14,
) -> LoadReport:
    """Load every staged batch, oldest first, each in one transaction.

    A loaded batch moves to ``staging_dir/loaded/`` (the newest ``keep_loaded`` are kept
    there for audit and replay, older ones deleted); a batch whose files are damaged or
    whose data the schema refuses moves to ``staging_dir/rejected/``. When the database
    stays locked for ``lock_timeout`` seconds nothing is touched and the report says so.
    The search index is built on the snapshot (``publish_snapshot``); ``refresh_search``
    also builds it here, in the writer's window (slow on big databases).
    A ``db_path`` naming a lake (``*.lake.sqlite``) loads with ``lake_load`` (one lake
    commit per batch; readers never wait, and nothing waits for them).
    """
    if is_lake_catalog(db_path):
        from newswatch.warehouse.lake import LakeConfig
        from newswatch.warehouse.lake_load import load_staged_into_lake

        return load_staged_into_lake(
            LakeConfig.for_path(db_path), staging_dir, keep_loaded=keep_loaded
        )
    swept = remove_stale_temporaries(staging_dir, writer_held=held_here(Path(staging_dir).parent))
    pending = staged_batches(staging_dir)
    if not pending:
        return LoadReport(0, 0, 0, 0, locked=False, message="nothing staged")
    short = _disk_shortfall(Path(db_path), pending)
    if short:
        return LoadReport(0, len(pending), 0, 0, locked=False, message=short)
    try:
        con = connect(db_path, lock_timeout=lock_timeout)
    except WarehouseLocked as exc:
        return LoadReport(
            0,
            len(pending),
            0,
            0,
            locked=True,
            message=f"{len(pending)} batch(es) left staged: {exc}",
        )
    loaded: list[str] = []
    notes: list[str] = [f"removed {len(swept)} interrupted staging temporaries"] if swept else []
    totals = Added()
    rejected = 0
    try:
        # list again under the lock: an overlapping run may have loaded (moved) some meanwhile
        for path in staged_batches(staging_dir):
            staged = read_batch(path, notes, move_batch)
            if staged is None:
                rejected += 1
                continue
            try:
                added = _load_one(con, staged)
            except DATA_ERRORS as exc:
                reject(path, exc, notes, move_batch)
                rejected += 1
                continue
            except duckdb.Error as exc:
                notes.append(f"stopped at {path.name} (kept staged): {describe_error(exc)}")
                break
            move_batch(path, LOADED_DIR)
            loaded.append(staged.run_id)
            totals = totals + added
        if refresh_search:
            search.refresh_index(con)
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:  # committed batches are safe in the WAL meanwhile
            notes.append(f"checkpoint deferred: {describe_error(exc)}")
    finally:
        con.close()
    prune_loaded(Path(staging_dir) / LOADED_DIR, keep_loaded)
    return report(loaded, len(staged_batches(staging_dir)), totals, notes, rejected)


# A load rewrites at most a few times the staged bytes (WAL, then checkpoint) plus room for
# the checkpoint itself; refuse to start below that rather than fail mid-checkpoint.
_SPACE_FACTOR = 4
_SPACE_MARGIN = 64 * 1024 * 1024


def _disk_shortfall(db_path: Path, batches: list[Path]) -> str | None:
    staged = sum(f.stat().st_size for b in batches for f in b.iterdir() if f.is_file())
    needed = staged * _SPACE_FACTOR + _SPACE_MARGIN
    folder = db_path.parent if db_path.parent.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    if free >= needed:
        return None
    return (
        f"not enough free disk space beside {db_path}: {free / 1e6:.0f} MB free, "
        f"{needed / 1e6:.0f} MB wanted for {len(batches)} staged batch(es); "
        "nothing loaded, batches stay staged"
    )


def _load_one(con: duckdb.DuckDBPyConnection, staged: StagedBatch) -> Added:
    con.execute("BEGIN TRANSACTION")
    try:
        if "articles" in staged.rows:
            con.execute(INSERT_STORY_BANDS, {"file": str(staged.file("articles"))})
        added = write_batch(con, staged, _STATEMENTS)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended it
            con.execute("ROLLBACK")  # keep the first error, not "no transaction is active"
        raise
    return added


def load_entities(
    con: duckdb.DuckDBPyConnection, entities: Iterable[Mapping[str, object]], version: str
) -> int:
    """Upsert catalogue entities (dicts with id, name, type, side); returns rows given.
    A MERGE, not ``ON CONFLICT``: the same statement runs on a lake (no unique keys)."""
    rows = [
        (
            str(e["id"]),
            str(e.get("name") or e["id"]),
            _optional_str(e.get("type")),
            _optional_str(e.get("side")),
        )
        for e in entities
    ]
    if not rows:
        return 0
    ids, names, types, sides = (list(column) for column in zip(*rows, strict=True))
    con.execute(
        """
        MERGE INTO entities USING (
            SELECT * FROM (
                SELECT unnest($ids) AS entity_id, unnest($names) AS name,
                       unnest($types) AS type, unnest($sides) AS side,
                       $version AS catalogue_version, $now AS updated_at
            )
            QUALIFY row_number() OVER (PARTITION BY entity_id) = 1
        ) AS given USING (entity_id)
        WHEN MATCHED THEN UPDATE SET
            name = given.name, type = given.type, side = given.side,
            catalogue_version = given.catalogue_version, updated_at = given.updated_at
        WHEN NOT MATCHED THEN INSERT
            (entity_id, name, type, side, catalogue_version, updated_at)
            VALUES (given.entity_id, given.name, given.type, given.side,
                    given.catalogue_version, given.updated_at)
        """,
        {
            "ids": ids,
            "names": names,
            "types": types,
            "sides": sides,
            "version": version,
            "now": datetime.now(UTC),
        },
    )
    return len(rows)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _set_all(columns: Iterable[str]) -> str:
    return ", ".join(f"{c} = excluded.{c}" for c in columns)


_UPSERT_ENTITIES = """
INSERT INTO entities BY NAME
SELECT *, $version AS catalogue_version, $now AS updated_at FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY entity_id) = 1
ON CONFLICT (entity_id) DO UPDATE SET
    name = excluded.name, type = excluded.type, side = excluded.side,
    catalogue_version = coalesce(excluded.catalogue_version, entities.catalogue_version),
    updated_at = excluded.updated_at
"""

_UPSERT_SOURCES = f"""
INSERT INTO sources BY NAME
SELECT *, $now AS updated_at FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY source_id) = 1
ON CONFLICT (source_id) DO UPDATE SET {_set_all(SOURCE_COLUMNS)}
"""

_UPSERT_FEED_STATE = f"""
INSERT INTO feed_state BY NAME
SELECT * FROM read_parquet($file)
QUALIFY row_number() OVER (
    PARTITION BY source_id ORDER BY last_polled_at DESC NULLS LAST) = 1
ON CONFLICT (source_id) DO UPDATE SET {_set_all(FEED_STATE_COLUMNS)}
WHERE feed_state.last_polled_at IS NULL
   OR excluded.last_polled_at IS NULL
   OR excluded.last_polled_at >= feed_state.last_polled_at
"""

_INSERT_FEED_POLLS = """
INSERT INTO feed_polls BY NAME
SELECT * FROM read_parquet($file)
ON CONFLICT DO NOTHING
"""

_UPSERT_ARTICLES = f"""
INSERT INTO articles BY NAME
SELECT *,
       {PUBLISHED_DAY} AS published_day
FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY first_seen_at) = 1
ON CONFLICT (article_id) DO UPDATE SET
    relevance = excluded.relevance,
    on_topic = excluded.on_topic,
    relevance_rule = excluded.relevance_rule,
    story_id = coalesce(articles.story_id, excluded.story_id)
"""

_DELETE_MENTIONS = """
DELETE FROM mentions
WHERE article_id IN (
    SELECT article_id FROM read_parquet($articles)
    UNION
    SELECT article_id FROM read_parquet($mentions)
)
"""

_INSERT_MENTIONS = """
INSERT INTO mentions BY NAME
SELECT DISTINCT ON (m.article_id, m.entity_id) m.*, a.published_day
FROM read_parquet($mentions) AS m
JOIN articles AS a USING (article_id)
"""

_UPSERT_RUNS = f"""
INSERT INTO runs BY NAME
SELECT *, $now AS loaded_at, $articles_added AS articles_added,
       $mentions_added AS mentions_added
FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY run_id) = 1
ON CONFLICT (run_id) DO UPDATE SET {_set_all(RUN_COLUMNS)}
"""

_TOUCHED_DAYS = """
SELECT DISTINCT published_day FROM articles
WHERE article_id IN (
    SELECT article_id FROM read_parquet($articles)
    UNION
    SELECT article_id FROM read_parquet($mentions)
)
"""

_DELETE_ENTITY_DAYS = f"""
DELETE FROM entity_daily WHERE day IN ({_TOUCHED_DAYS})
"""

_INSERT_ENTITY_DAYS = f"""
INSERT INTO entity_daily
SELECT m.entity_id, m.published_day, sum(m.count), count(*),
       count(DISTINCT coalesce(a.story_id, a.article_id))
FROM mentions AS m
JOIN articles AS a USING (article_id)
WHERE m.published_day IN ({_TOUCHED_DAYS})
GROUP BY 1, 2
"""

_INSERT_ALERTS = """
INSERT INTO alerts (alert_id, rule, kind, story_id, channel, delivery, article_id, created_at,
                    status, attempts, next_attempt_at, idempotency_key, payload)
SELECT alert_id, rule, kind, story_id, channel, delivery, article_id, created_at,
       'pending', 0, created_at, alert_id, payload_json
FROM read_parquet($file)
ON CONFLICT DO NOTHING
"""

_INSERT_EMERGING_TERMS = """
INSERT INTO emerging_terms BY NAME
SELECT * FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY term, run_id) = 1
ON CONFLICT DO NOTHING
"""

_INSERT_CATALOGUE_VERSION = """
INSERT INTO catalogue_versions (version, entities, recorded_at, recorded_by)
SELECT catalogue_version,
       (SELECT count(*) FROM entities AS e WHERE e.catalogue_version = r.catalogue_version),
       $now, 'run'
FROM read_parquet($file) AS r
WHERE catalogue_version IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY catalogue_version) = 1
ON CONFLICT DO NOTHING
"""

# An alias only for an article that is stored (the batch's own articles are in by now), and
# never for a URL that is itself an article's URL.
_INSERT_ALIASES = """
INSERT INTO article_aliases BY NAME
SELECT * FROM read_parquet($file) AS n
WHERE n.article_id IN (SELECT article_id FROM articles)
  AND n.url NOT IN (SELECT url FROM articles)
QUALIFY row_number() OVER (PARTITION BY n.url ORDER BY n.first_seen_at) = 1
ON CONFLICT DO NOTHING
"""

# The batch's attempt counts only when it is later than the stored one (re-loading a batch
# changes nothing); a resolved row stays resolved.
_UPSERT_PAGE_FAILURES = f"""
INSERT INTO page_failures BY NAME
SELECT * FROM read_parquet($file)
QUALIFY row_number() OVER (PARTITION BY url ORDER BY last_attempt_at DESC) = 1
ON CONFLICT (url) DO UPDATE SET
    {_set_all(FAILURE_COLUMNS)},
    attempts = greatest(excluded.attempts, page_failures.attempts + 1),
    first_failed_at = least(excluded.first_failed_at, page_failures.first_failed_at)
WHERE excluded.last_attempt_at > page_failures.last_attempt_at
  AND page_failures.status <> 'resolved'
"""

_STATEMENTS = BatchStatements(
    entities=_UPSERT_ENTITIES,
    sources=_UPSERT_SOURCES,
    feed_state=_UPSERT_FEED_STATE,
    feed_polls=_INSERT_FEED_POLLS,
    articles=_UPSERT_ARTICLES,
    mentions=(_DELETE_MENTIONS, _INSERT_MENTIONS, _DELETE_ENTITY_DAYS, _INSERT_ENTITY_DAYS),
    aliases=_INSERT_ALIASES,
    page_failures=_UPSERT_PAGE_FAILURES,
    alerts=_INSERT_ALERTS,
    emerging_terms=_INSERT_EMERGING_TERMS,
    catalogue_version=_INSERT_CATALOGUE_VERSION,
    runs=_UPSERT_RUNS,
)
