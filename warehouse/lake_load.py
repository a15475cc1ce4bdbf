"""Load staged batches into a DuckLake: one commit per batch, keys checked in SQL.

The same semantics as ``warehouse/load.py`` (see its table list), written for a lake that
has no unique constraints: ``ON CONFLICT`` becomes an anti-join on the table's keys
(insert-if-new) or a ``MERGE INTO`` (upsert), with the same conditions. Each batch is one
transaction run through ``lake.commit_with_retry``: its write guard makes two overlapping
loaders conflict, and the later one re-runs against the newer snapshot, so the anti-joins
stay exact under concurrency. Readers are never blocked (a consistent snapshot per query).

Where the file load rewrites rows with the same values, this load writes only what changes
(an update only where a value differs, mentions and ``entity_daily`` rows replaced only
where they differ), so re-loading a batch adds no data files and the table contents are
the same as the file load's. Load-time stamps (``updated_at``, ``loaded_at``,
``resolved_at``, ``recorded_at``) are set as the file load sets them. The CHECK
constraints the lake cannot hold (``lake_schema.CHECKS``) are verified before a batch goes
in; a batch that breaks one is rejected like one the schema refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse import load_rules as rules
from newswatch.warehouse.lake import LakeConfig, commit_with_retry, open_lake
from newswatch.warehouse.lake_schema import CHECKS, LAKE_SPECS, ensure_lake_schema, table_keys
from newswatch.warehouse.staging import (
    LOADED_DIR,
    StagedBatch,
    move_batch,
    remove_stale_temporaries,
    staged_batches,
)
from newswatch.warehouse.trends import PUBLISHED_DAY


@dataclass(frozen=True)
class BatchTiming:
    """One batch's load: the seconds from BEGIN to COMMIT (retries included)."""

    run_id: str
    seconds: float
    attempts: int


def load_staged_into_lake(
    config: LakeConfig,
    staging_dir: Path,
    *,
    keep_loaded: int = 14,
    on_batch: Callable[[BatchTiming], None] | None = None,
) -> rules.LoadReport:
    """Load every staged batch, oldest first, each in one lake commit; move it to
    ``loaded/`` (or ``rejected/`` when its files are damaged or its data refused).

    Another loader may load the same batches at once (same or another staging folder):
    both end with one copy of each row. A batch another loader moved away meanwhile is
    skipped. Nothing is ever waited for but a lost commit race (re-run, bounded).
    """
    staging_dir = Path(staging_dir)
    swept = remove_stale_temporaries(staging_dir)
    if not staged_batches(staging_dir):
        return rules.LoadReport(0, 0, 0, 0, locked=False, message="nothing staged")
    con = open_lake(config)
    loaded: list[str] = []
    notes = [f"removed {len(swept)} interrupted staging temporaries"] if swept else []
    totals = rules.Added()
    rejected = 0
    try:
        ensure_lake_schema(con)
        for path in staged_batches(staging_dir):
            if not path.is_dir():  # another loader moved it meanwhile
                continue
            staged = rules.read_batch(path, notes, _move)
            if staged is None:
                rejected += 1
                continue
            attempts = 0

            def work(c: duckdb.DuckDBPyConnection, staged: StagedBatch = staged) -> rules.Added:
                nonlocal attempts
                attempts += 1
                return load_batch(c, staged)

            started = time.monotonic()
            try:
                _check(con, staged)
                added = commit_with_retry(con, work, attempts=20)
            except rules.DATA_ERRORS as exc:
                rules.reject(path, exc, notes, _move)
                rejected += 1
                continue
            except (duckdb.Error, WarehouseError) as exc:
                notes.append(f"stopped at {path.name} (kept staged): {exc}")
                break
            if on_batch is not None:
                on_batch(BatchTiming(staged.run_id, time.monotonic() - started, attempts))
            _move(path, LOADED_DIR)
            loaded.append(staged.run_id)
            totals = totals + added
    finally:
        con.close()
    rules.prune_loaded(staging_dir / LOADED_DIR, keep_loaded)
    left = len(staged_batches(staging_dir))
    return rules.report(loaded, left, totals, notes, rejected, into=" into the lake")


def load_batch(con: duckdb.DuckDBPyConnection, staged: StagedBatch) -> rules.Added:
    """Write one staged batch in the transaction open on ``con`` (no BEGIN/COMMIT here)."""
    if staged.rows.get("articles"):
        con.execute(rules.INSERT_STORY_BANDS, {"file": str(staged.file("articles"))})
    return rules.write_batch(con, staged, _STATEMENTS)


def _check(con: duckdb.DuckDBPyConnection, staged: StagedBatch) -> None:
    """Raise ConstraintException when a staged row breaks a CHECK the lake cannot hold."""
    for staged_name, table in _CHECKED_FILES.items():
        if not staged.rows.get(staged_name):
            continue  # no rows staged: nothing to check
        for condition in CHECKS[table]:
            row = con.execute(
                f"SELECT count(*) FROM read_parquet($file) WHERE NOT coalesce({condition}, true)",
                {"file": str(staged.file(staged_name))},
            ).fetchone()
            if row and row[0]:
                raise duckdb.ConstraintException(
                    f"CHECK constraint failed on {table}: {row[0]} row(s) break {condition}"
                )


# Staged files whose rows carry a checked column as staged (alerts' status is set here).
_CHECKED_FILES = {"page_failures": "page_failures"}


def _move(path: Path, to: str) -> None:
    with suppress(FileNotFoundError):  # another loader of the same folder moved it first
        move_batch(path, to)


# -- SQL builders ----------------------------------------------------------------------------


def _key(table: str) -> tuple[str, ...]:
    return table_keys(LAKE_SPECS[table])[0]


def _on(table: str, source: str, key: tuple[str, ...] | None = None) -> str:
    return " AND ".join(f"{table}.{c} = {source}.{c}" for c in key or _key(table))


def _first_per_key(table: str, select: str, order: str = "") -> str:
    """``select`` keeping one row per key of ``table``: the first by ``order`` (a sort
    expression) for a one-key table, else any one per key (each of its keys).

    An ordered window (``QUALIFY row_number() OVER (... ORDER BY ...)``) in the source of a
    MERGE that has a WHEN MATCHED UPDATE crashed duckdb 1.5.5 on a lake (segfault, abort in
    pthread_mutex_lock, hang or "Invalid argument", 4 of 4 runs), hence DISTINCT ON here.
    """
    keys = table_keys(LAKE_SPECS[table])
    if order:
        if len(keys) != 1:
            raise ValueError(f"{table}: an ordered pick needs a table with one key")
        key = ", ".join(keys[0])
        return f"SELECT DISTINCT ON ({key}) * FROM (\n{select}\n) ORDER BY {key}, {order}"
    qualify = " AND ".join(f"row_number() OVER (PARTITION BY {', '.join(key)}) = 1" for key in keys)
    return f"{select}\nQUALIFY {qualify}"


def _insert_new(table: str, select: str, order: str = "") -> str:
    """Insert-if-new: the batch's rows (one per key) whose keys are not stored yet."""
    anti_joins = "\n".join(
        f"ANTI JOIN {table} AS old_{n} ON {_on(f'old_{n}', 'new', key)}"
        for n, key in enumerate(table_keys(LAKE_SPECS[table]))
    )
    return (
        f"INSERT INTO {table} BY NAME\nSELECT new.* FROM (\n{_first_per_key(table, select, order)}"
        f"\n) AS new\n{anti_joins}"
    )


def _differs(table: str, columns: tuple[str, ...], values: tuple[str, ...] | None = None) -> str:
    old = ", ".join(f"{table}.{c}" for c in columns)
    new = ", ".join(values or tuple(f"new.{c}" for c in columns))
    return f"row({old}) IS DISTINCT FROM row({new})"


def _set(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{c} = new.{c}" for c in columns)


_MERGE_ENTITIES = f"""
MERGE INTO entities USING (
{_first_per_key("entities", "SELECT *, $version AS catalogue_version, $now AS updated_at FROM read_parquet($file)")}
) AS new ON {_on("entities", "new")}
WHEN MATCHED THEN UPDATE SET
    name = new.name, type = new.type, side = new.side,
    catalogue_version = coalesce(new.catalogue_version, entities.catalogue_version),
    updated_at = new.updated_at
WHEN NOT MATCHED THEN INSERT BY NAME
"""  # noqa: E501

_MERGE_SOURCES = f"""
MERGE INTO sources USING (
{_first_per_key("sources", "SELECT *, $now AS updated_at FROM read_parquet($file)")}
) AS new ON {_on("sources", "new")}
WHEN MATCHED THEN UPDATE SET {_set(rules.SOURCE_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_MERGE_FEED_STATE = f"""
MERGE INTO feed_state USING (
{_first_per_key("feed_state", "SELECT * FROM read_parquet($file)", "last_polled_at DESC NULLS LAST")}
) AS new ON {_on("feed_state", "new")}
WHEN MATCHED AND (feed_state.last_polled_at IS NULL
                  OR new.last_polled_at IS NULL
                  OR new.last_polled_at >= feed_state.last_polled_at)
             AND {_differs("feed_state", rules.FEED_STATE_COLUMNS)}
    THEN UPDATE SET {_set(rules.FEED_STATE_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""  # noqa: E501

_ARTICLE_UPDATES = ("relevance", "on_topic", "relevance_rule", "story_id")
_MERGE_ARTICLES = f"""
MERGE INTO articles USING (
{
    _first_per_key(
        "articles",
        f"SELECT *, {PUBLISHED_DAY} AS published_day FROM read_parquet($file)",
        "first_seen_at",
    )
}
) AS new ON {_on("articles", "new")}
WHEN MATCHED AND {
    _differs(
        "articles",
        _ARTICLE_UPDATES,
        (
            "new.relevance",
            "new.on_topic",
            "new.relevance_rule",
            "coalesce(articles.story_id, new.story_id)",
        ),
    )
}
    THEN UPDATE SET relevance = new.relevance, on_topic = new.on_topic,
        relevance_rule = new.relevance_rule,
        story_id = coalesce(articles.story_id, new.story_id)
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_TOUCHED_ARTICLES = """
    SELECT article_id FROM read_parquet($articles)
    UNION
    SELECT article_id FROM read_parquet($mentions)
"""

# The mentions the file load would leave for the batch's articles (delete, then insert).
_NEW_MENTIONS = """
SELECT DISTINCT ON (m.article_id, m.entity_id)
       m.article_id, m.entity_id, m.count, m.first_offset, m.snippet, m.alias,
       a.published_day
FROM read_parquet($mentions) AS m
JOIN articles AS a USING (article_id)
"""
_MENTION_COLUMNS = (
    "article_id",
    "entity_id",
    "count",
    "first_offset",
    "snippet",
    "alias",
    "published_day",
)


def _same(columns: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in columns)


def _replace_changed(
    table: str, columns: tuple[str, ...], new_rows: str, scope: str
) -> tuple[str, str]:
    """DELETE then INSERT making ``table``'s rows within ``scope`` (a condition) the rows
    of ``new_rows``, touching only the rows that differ (an unchanged row stays as it is)."""
    listed = ", ".join(columns)
    delete = f"""
DELETE FROM {table}
WHERE {scope}
  AND NOT EXISTS (SELECT 1 FROM ({new_rows}) AS new WHERE {_same(columns, "new", table)})
"""
    insert = f"""
INSERT INTO {table} ({listed})
SELECT * FROM ({new_rows})
EXCEPT
SELECT {listed} FROM {table} WHERE {scope}
"""
    return delete, insert


_DELETE_CHANGED_MENTIONS, _INSERT_CHANGED_MENTIONS = _replace_changed(
    "mentions", _MENTION_COLUMNS, _NEW_MENTIONS, f"article_id IN ({_TOUCHED_ARTICLES})"
)

_TOUCHED_DAYS = f"""
SELECT DISTINCT published_day FROM articles WHERE article_id IN ({_TOUCHED_ARTICLES})
"""

_NEW_ENTITY_DAYS = f"""
SELECT m.entity_id, m.published_day AS day, CAST(sum(m.count) AS BIGINT) AS mentions,
       count(*) AS articles, count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories
FROM mentions AS m
JOIN articles AS a USING (article_id)
WHERE m.published_day IN ({_TOUCHED_DAYS})
GROUP BY 1, 2
"""
_DAY_COLUMNS = ("entity_id", "day", "mentions", "articles", "stories")

_DELETE_CHANGED_ENTITY_DAYS, _INSERT_CHANGED_ENTITY_DAYS = _replace_changed(
    "entity_daily", _DAY_COLUMNS, _NEW_ENTITY_DAYS, f"day IN ({_TOUCHED_DAYS})"
)

_MERGE_RUNS = f"""
MERGE INTO runs USING (
{
    _first_per_key(
        "runs",
        "SELECT *, $now AS loaded_at, $articles_added AS articles_added, "
        "$mentions_added AS mentions_added FROM read_parquet($file)",
    )
}
) AS new ON {_on("runs", "new")}
WHEN MATCHED AND {_differs("runs", rules.RUN_COLUMNS)} THEN UPDATE SET {_set(rules.RUN_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_INSERT_ALERTS = _insert_new(
    "alerts",
    "SELECT alert_id, rule, kind, story_id, channel, delivery, article_id, created_at, "
    "'pending' AS status, 0 AS attempts, created_at AS next_attempt_at, "
    "alert_id AS idempotency_key, payload_json AS payload FROM read_parquet($file)",
)

_INSERT_CATALOGUE_VERSION = _insert_new(
    "catalogue_versions",
    "SELECT catalogue_version AS version, "
    "(SELECT count(*) FROM entities AS e WHERE e.catalogue_version = r.catalogue_version) "
    "AS entities, $now AS recorded_at, 'run' AS recorded_by "
    "FROM read_parquet($file) AS r WHERE catalogue_version IS NOT NULL",
)

# An alias only for an article that is stored (the batch's own articles are in by now), and
# never for a URL that is itself an article's URL.
_INSERT_ALIASES = _insert_new(
    "article_aliases",
    "SELECT * FROM read_parquet($file) AS n "
    "WHERE n.article_id IN (SELECT article_id FROM articles) "
    "AND n.url NOT IN (SELECT url FROM articles)",
    "first_seen_at",
)

# The batch's attempt counts only when it is later than the stored one (re-loading a batch
# changes nothing); a resolved row stays resolved.
_MERGE_PAGE_FAILURES = f"""
MERGE INTO page_failures USING (
{_first_per_key("page_failures", "SELECT * FROM read_parquet($file)", "last_attempt_at DESC")}
) AS new ON {_on("page_failures", "new")}
WHEN MATCHED AND new.last_attempt_at > page_failures.last_attempt_at
             AND page_failures.status <> 'resolved'
    THEN UPDATE SET
        {_set(rules.FAILURE_COLUMNS)},
        attempts = greatest(new.attempts, page_failures.attempts + 1),
        first_failed_at = least(new.first_failed_at, page_failures.first_failed_at)
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_STATEMENTS = rules.BatchStatements(
    entities=_MERGE_ENTITIES,
    sources=_MERGE_SOURCES,
    feed_state=_MERGE_FEED_STATE,
    feed_polls=_insert_new("feed_polls", "SELECT * FROM read_parquet($file)"),
    articles=_MERGE_ARTICLES,
    mentions=(
        _DELETE_CHANGED_MENTIONS,
        _INSERT_CHANGED_MENTIONS,
        _DELETE_CHANGED_ENTITY_DAYS,
        _INSERT_CHANGED_ENTITY_DAYS,
    ),
    aliases=_INSERT_ALIASES,
    page_failures=_MERGE_PAGE_FAILURES,
    alerts=_INSERT_ALERTS,
    emerging_terms=_insert_new("emerging_terms", "SELECT * FROM read_parquet($file)"),
    catalogue_version=_INSERT_CATALOGUE_VERSION,
    runs=_MERGE_RUNS,
)
