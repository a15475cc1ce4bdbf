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

import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.lake import LakeConfig, commit_with_retry, open_lake
from newswatch.warehouse.lake_schema import CHECKS, LAKE_SPECS, ensure_lake_schema, table_keys
from newswatch.warehouse.load import LoadReport
from newswatch.warehouse.staging import (
    LOADED_DIR,
    REJECTED_DIR,
    SCHEMAS,
    StagedBatch,
    conform_to_schema,
    move_batch,
    read_staged,
    remove_stale_temporaries,
    staged_batches,
)

# duckdb errors that mean "this batch's data cannot go in", not "try again later"
_DATA_ERRORS = (
    duckdb.ConstraintException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.BinderException,
    duckdb.CatalogException,
)


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
) -> LoadReport:
    """Load every staged batch, oldest first, each in one lake commit; move it to
    ``loaded/`` (or ``rejected/`` when its files are damaged or its data refused).

    Another loader may load the same batches at once (same or another staging folder):
    both end with one copy of each row. A batch another loader moved away meanwhile is
    skipped. Nothing is ever waited for but a lost commit race (re-run, bounded).
    """
    staging_dir = Path(staging_dir)
    swept = remove_stale_temporaries(staging_dir)
    if not staged_batches(staging_dir):
        return LoadReport(0, 0, 0, 0, locked=False, message="nothing staged")
    con = open_lake(config)
    loaded: list[str] = []
    notes = [f"removed {len(swept)} interrupted staging temporaries"] if swept else []
    totals = _Added(0, 0, 0, 0)
    rejected = 0
    try:
        ensure_lake_schema(con)
        for path in staged_batches(staging_dir):
            if not path.is_dir():  # another loader moved it meanwhile
                continue
            try:
                staged = read_staged(path)
                upgraded = conform_to_schema(staged)
            except WarehouseError as exc:
                _move(path, REJECTED_DIR)
                rejected += 1
                notes.append(f"rejected {path.name}: {exc}")
                continue
            if upgraded:
                notes.append(
                    f"{path.name}: staged by an older version, added {len(upgraded)} "
                    "empty column(s)"
                )
            attempts = 0

            def work(c: duckdb.DuckDBPyConnection, staged: StagedBatch = staged) -> _Added:
                nonlocal attempts
                attempts += 1
                return load_batch(c, staged)

            started = time.monotonic()
            try:
                _check(con, staged)
                added = commit_with_retry(con, work, attempts=20)
            except _DATA_ERRORS as exc:
                _move(path, REJECTED_DIR)
                rejected += 1
                notes.append(f"rejected {path.name}: {exc}")
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
    _prune(staging_dir / LOADED_DIR, keep_loaded)
    left = len(staged_batches(staging_dir))
    summary = (
        f"loaded {len(loaded)} batch(es) into the lake: +{totals.articles} articles, "
        f"+{totals.mentions} mentions, +{totals.aliases} aliases, "
        f"{totals.page_failures} failed page fetch(es) recorded; {left} left staged"
    )
    return LoadReport(
        batches_loaded=len(loaded),
        batches_left=left,
        articles_added=totals.articles,
        mentions_added=totals.mentions,
        locked=False,
        message="; ".join([summary, *notes]),
        batches_rejected=rejected,
        runs_loaded=tuple(loaded),
        aliases_added=totals.aliases,
        pages_failed=totals.page_failures,
    )


@dataclass(frozen=True)
class _Added:
    articles: int
    mentions: int
    aliases: int
    page_failures: int

    def __add__(self, other: _Added) -> _Added:
        return _Added(
            self.articles + other.articles,
            self.mentions + other.mentions,
            self.aliases + other.aliases,
            self.page_failures + other.page_failures,
        )


def load_batch(con: duckdb.DuckDBPyConnection, staged: StagedBatch) -> _Added:
    """Write one staged batch in the transaction open on ``con`` (no BEGIN/COMMIT here)."""
    files = {table: str(staged.file(table)) for table in staged.rows}

    def run(statement: str, table: str, **params: object) -> None:
        if table in files:  # a table absent from an older batch's manifest is empty
            con.execute(statement, {"file": files[table], **params})

    now = datetime.now(UTC)
    version = _catalogue_version(con, files.get("runs"))
    articles_before = _count(con, "articles")
    mentions_before = _count(con, "mentions")
    aliases_before = _count(con, "article_aliases")
    run(_MERGE_ENTITIES, "entities", version=version, now=now)
    run(_MERGE_SOURCES, "sources", now=now)
    run(_MERGE_FEED_STATE, "feed_states")
    run(_INSERT_FEED_POLLS, "feed_polls")
    run(_MERGE_ARTICLES, "articles")
    if "articles" in files and "mentions" in files:
        touched = {"articles": files["articles"], "mentions": files["mentions"]}
        con.execute(_DELETE_CHANGED_MENTIONS, touched)
        con.execute(_INSERT_CHANGED_MENTIONS, touched)
        con.execute(_DELETE_CHANGED_ENTITY_DAYS, touched)
        con.execute(_INSERT_CHANGED_ENTITY_DAYS, touched)
    run(_INSERT_ALIASES, "article_aliases")
    run(_MERGE_PAGE_FAILURES, "page_failures")
    for table in ("articles", "article_aliases"):
        run(_RESOLVE_PAGE_FAILURES, table, now=now)
    run(_INSERT_ALERTS, "alerts")
    run(_INSERT_EMERGING_TERMS, "emerging_terms")
    run(_INSERT_CATALOGUE_VERSION, "runs", now=now)
    articles_added = _count(con, "articles") - articles_before
    mentions_added = _count(con, "mentions") - mentions_before
    aliases_added = _count(con, "article_aliases") - aliases_before
    run(
        _MERGE_RUNS,
        "runs",
        now=now,
        articles_added=articles_added,
        mentions_added=mentions_added,
    )
    failures = staged.rows.get("page_failures", 0)
    return _Added(articles_added, mentions_added, aliases_added, failures)


def _check(con: duckdb.DuckDBPyConnection, staged: StagedBatch) -> None:
    """Raise ConstraintException when a staged row breaks a CHECK the lake cannot hold."""
    for staged_name, table in _CHECKED_FILES.items():
        if staged_name not in staged.rows:
            continue
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


def _catalogue_version(con: duckdb.DuckDBPyConnection, runs_file: str | None) -> str | None:
    if runs_file is None:
        return None
    row = con.execute(
        "SELECT any_value(catalogue_version) FROM read_parquet($file)", {"file": runs_file}
    ).fetchone()
    return row[0] if row else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # table name from code
    return int(row[0]) if row else 0


def _move(path: Path, to: str) -> None:
    with suppress(FileNotFoundError):  # another loader of the same folder moved it first
        move_batch(path, to)


def _prune(loaded_dir: Path, keep: int) -> None:
    if not loaded_dir.is_dir():
        return
    batches = sorted(p for p in loaded_dir.iterdir() if p.is_dir())
    for old in batches[: max(len(batches) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


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


_SOURCE_COLUMNS = ("name", "url", "language", "kind", "enabled", "updated_at")
_FEED_STATE_COLUMNS = tuple(f.name for f in SCHEMAS["feed_states"] if f.name != "source_id")
_RUN_COLUMNS = tuple(f.name for f in SCHEMAS["runs"] if f.name != "run_id")
_FAILURE_COLUMNS = tuple(
    f.name for f in SCHEMAS["page_failures"] if f.name not in {"url", "first_failed_at", "attempts"}
)

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
WHEN MATCHED THEN UPDATE SET {_set(_SOURCE_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_MERGE_FEED_STATE = f"""
MERGE INTO feed_state USING (
{_first_per_key("feed_state", "SELECT * FROM read_parquet($file)", "last_polled_at DESC NULLS LAST")}
) AS new ON {_on("feed_state", "new")}
WHEN MATCHED AND (feed_state.last_polled_at IS NULL
                  OR new.last_polled_at IS NULL
                  OR new.last_polled_at >= feed_state.last_polled_at)
             AND {_differs("feed_state", _FEED_STATE_COLUMNS)}
    THEN UPDATE SET {_set(_FEED_STATE_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""  # noqa: E501

_INSERT_FEED_POLLS = _insert_new("feed_polls", "SELECT * FROM read_parquet($file)")

_ARTICLE_UPDATES = ("relevance", "on_topic", "relevance_rule", "story_id")
_MERGE_ARTICLES = f"""
MERGE INTO articles USING (
{
    _first_per_key(
        "articles",
        "SELECT *, CAST(timezone('UTC', coalesce(published_at, first_seen_at)) AS DATE) "
        "AS published_day FROM read_parquet($file)",
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


_DELETE_CHANGED_MENTIONS = f"""
DELETE FROM mentions
WHERE article_id IN ({_TOUCHED_ARTICLES})
  AND NOT EXISTS (
      SELECT 1 FROM ({_NEW_MENTIONS}) AS new WHERE {_same(_MENTION_COLUMNS, "new", "mentions")}
  )
"""

_INSERT_CHANGED_MENTIONS = f"""
INSERT INTO mentions ({", ".join(_MENTION_COLUMNS)})
SELECT * FROM ({_NEW_MENTIONS})
EXCEPT
SELECT {", ".join(_MENTION_COLUMNS)} FROM mentions WHERE article_id IN ({_TOUCHED_ARTICLES})
"""

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

_DELETE_CHANGED_ENTITY_DAYS = f"""
DELETE FROM entity_daily
WHERE day IN ({_TOUCHED_DAYS})
  AND NOT EXISTS (
      SELECT 1 FROM ({_NEW_ENTITY_DAYS}) AS new
      WHERE {_same(_DAY_COLUMNS, "new", "entity_daily")}
  )
"""

_INSERT_CHANGED_ENTITY_DAYS = f"""
INSERT INTO entity_daily ({", ".join(_DAY_COLUMNS)})
SELECT * FROM ({_NEW_ENTITY_DAYS})
EXCEPT
SELECT {", ".join(_DAY_COLUMNS)} FROM entity_daily WHERE day IN ({_TOUCHED_DAYS})
"""

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
WHEN MATCHED AND {_differs("runs", _RUN_COLUMNS)} THEN UPDATE SET {_set(_RUN_COLUMNS)}
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_INSERT_ALERTS = _insert_new(
    "alerts",
    "SELECT alert_id, rule, kind, story_id, channel, delivery, article_id, created_at, "
    "'pending' AS status, 0 AS attempts, created_at AS next_attempt_at, "
    "alert_id AS idempotency_key, payload_json AS payload FROM read_parquet($file)",
)

_INSERT_EMERGING_TERMS = _insert_new("emerging_terms", "SELECT * FROM read_parquet($file)")

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
        {_set(_FAILURE_COLUMNS)},
        attempts = greatest(new.attempts, page_failures.attempts + 1),
        first_failed_at = least(new.first_failed_at, page_failures.first_failed_at)
WHEN NOT MATCHED THEN INSERT BY NAME
"""

_RESOLVE_PAGE_FAILURES = """
UPDATE page_failures SET status = 'resolved', next_attempt_at = NULL, resolved_at = $now
WHERE status <> 'resolved' AND url IN (SELECT url FROM read_parquet($file))
"""
