"""What both loaders (``load.py`` into a DuckDB file, ``lake_load.py`` into a DuckLake) share.

The errors that reject a batch, the columns each upsert refreshes, reading a staged batch
(conformed to today's schema), the order in which a batch's tables are written
(``write_batch``, given each loader's statements), the counters and the report, and pruning
``loaded/``. The SQL of each loader stays in its own module.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.staging import (
    REJECTED_DIR,
    SCHEMAS,
    StagedBatch,
    conform_to_schema,
    read_staged,
)

# duckdb errors that mean "this batch's data cannot go in", not "try again later"
DATA_ERRORS = (
    duckdb.ConstraintException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.BinderException,
    duckdb.CatalogException,
)

# The columns an upsert refreshes on a stored row (the key and first-seen values excluded).
SOURCE_COLUMNS = ("name", "url", "language", "kind", "enabled", "updated_at")
FEED_STATE_COLUMNS = tuple(f.name for f in SCHEMAS["feed_states"] if f.name != "source_id")
RUN_COLUMNS = tuple(f.name for f in SCHEMAS["runs"] if f.name != "run_id")
FAILURE_COLUMNS = tuple(
    f.name for f in SCHEMAS["page_failures"] if f.name not in {"url", "first_failed_at", "attempts"}
)

# A stored URL (as article or alias) marks its open page failure resolved.
RESOLVE_PAGE_FAILURES = """
UPDATE page_failures SET status = 'resolved', next_attempt_at = NULL, resolved_at = $now
WHERE status <> 'resolved' AND url IN (SELECT url FROM read_parquet($file))
"""


@dataclass(frozen=True)
class LoadReport:
    batches_loaded: int
    batches_left: int
    articles_added: int
    mentions_added: int
    locked: bool
    message: str
    batches_rejected: int = 0
    runs_loaded: tuple[str, ...] = ()
    aliases_added: int = 0  # new URLs recorded as aliases of stored articles
    pages_failed: int = 0  # error pages recorded (or updated) in page_failures


@dataclass(frozen=True)
class Added:
    """What one batch (or several, summed) added."""

    articles: int = 0
    mentions: int = 0
    aliases: int = 0
    page_failures: int = 0

    def __add__(self, other: Added) -> Added:
        return Added(
            self.articles + other.articles,
            self.mentions + other.mentions,
            self.aliases + other.aliases,
            self.page_failures + other.page_failures,
        )


def read_batch(
    path: Path, notes: list[str], move: Callable[[Path, str], object]
) -> StagedBatch | None:
    """The staged batch at ``path`` conformed to today's schema, or None when its files are
    damaged (then it is moved to ``rejected/`` with ``move`` and a note says why)."""
    try:
        staged = read_staged(path)
        upgraded = conform_to_schema(staged)
    except WarehouseError as exc:
        reject(path, exc, notes, move)
        return None
    if upgraded:
        notes.append(
            f"{path.name}: staged by an older version, added {len(upgraded)} empty column(s)"
        )
    return staged


def reject(
    path: Path, exc: BaseException, notes: list[str], move: Callable[[Path, str], object]
) -> None:
    move(path, REJECTED_DIR)
    notes.append(f"rejected {path.name}: {exc}")


def report(
    loaded: list[str], left: int, totals: Added, notes: list[str], rejected: int, into: str = ""
) -> LoadReport:
    """The report of a load that ran (``into`` names the target in the summary)."""
    summary = (
        f"loaded {len(loaded)} batch(es){into}: +{totals.articles} articles, "
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


def prune_loaded(loaded_dir: Path, keep: int) -> None:
    """Keep the newest ``keep`` batches in ``loaded/``, delete the older ones."""
    if not loaded_dir.is_dir():
        return
    batches = sorted(p for p in loaded_dir.iterdir() if p.is_dir())
    for old in batches[: max(len(batches) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def catalogue_version(con: duckdb.DuckDBPyConnection, runs_file: str | None) -> str | None:
    """The catalogue version the batch's runs record (None without a runs file)."""
    if runs_file is None:
        return None
    row = con.execute(
        "SELECT any_value(catalogue_version) FROM read_parquet($file)", {"file": runs_file}
    ).fetchone()
    return row[0] if row else None


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # table name from code
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class BatchStatements:
    """One loader's SQL for each step of a batch (see load.py's table list)."""

    entities: str  # $file, $version, $now
    sources: str  # $file, $now
    feed_state: str
    feed_polls: str
    articles: str
    mentions: tuple[str, ...]  # with $articles and/or $mentions, when the batch has both
    aliases: str
    page_failures: str
    alerts: str
    emerging_terms: str
    catalogue_version: str  # $file, $now
    runs: str  # $file, $now, $articles_added, $mentions_added


def write_batch(con: duckdb.DuckDBPyConnection, staged: StagedBatch, sql: BatchStatements) -> Added:
    """Write one staged batch in the transaction open on ``con`` (no BEGIN/COMMIT here).

    A statement is run only when its staged file has rows (``staged.rows``, checked
    against each file by ``read_staged``): every statement reads its rows from that file,
    so on an empty one it changes nothing. An unchanged run's batch (its runs row, maybe
    feed states and polls) runs those statements alone, not a scan of the stored articles
    and mentions per table; the counts behind ``Added`` are read only for the tables the
    batch can change.
    """
    files = {table: str(staged.file(table)) for table in staged.rows if staged.rows[table] > 0}

    def run(statement: str, table: str, **params: object) -> None:
        if table in files:  # absent: no rows staged (or a table an older batch lacks)
            con.execute(statement, {"file": files[table], **params})

    now = datetime.now(UTC)
    version = catalogue_version(con, files.get("runs"))
    touched = {t: files[t] for t in ("articles", "mentions") if t in files}
    # the mention statements' scope is the batch's articles and mentions (both staged)
    mentions_written = bool(touched) and {"articles", "mentions"} <= staged.rows.keys()
    counted = [
        table
        for table, written in (
            ("articles", "articles" in files),
            ("mentions", mentions_written),
            ("article_aliases", "article_aliases" in files),
        )
        if written
    ]
    before = {table: count(con, table) for table in counted}
    run(sql.entities, "entities", version=version, now=now)
    run(sql.sources, "sources", now=now)
    run(sql.feed_state, "feed_states")
    run(sql.feed_polls, "feed_polls")
    run(sql.articles, "articles")
    if mentions_written:
        paths = {t: str(staged.file(t)) for t in ("articles", "mentions")}
        for statement in sql.mentions:  # only the parameters a statement names
            con.execute(statement, {k: v for k, v in paths.items() if f"${k}" in statement})
    run(sql.aliases, "article_aliases")
    run(sql.page_failures, "page_failures")
    for table in ("articles", "article_aliases"):
        run(RESOLVE_PAGE_FAILURES, table, now=now)
    run(sql.alerts, "alerts")
    run(sql.emerging_terms, "emerging_terms")
    run(sql.catalogue_version, "runs", now=now)
    added = {table: count(con, table) - n for table, n in before.items()}
    articles_added = added.get("articles", 0)
    mentions_added = added.get("mentions", 0)
    aliases_added = added.get("article_aliases", 0)
    run(sql.runs, "runs", now=now, articles_added=articles_added, mentions_added=mentions_added)
    failures = staged.rows.get("page_failures", 0)
    return Added(articles_added, mentions_added, aliases_added, failures)


# The LSH band keys of the batch's new articles (extractors/dedup.py: band_keys), for the
# story candidates query: run first in the batch's transaction, before its articles are
# written (an article already stored has its bands). Both loaders run it.
INSERT_STORY_BANDS = """
INSERT INTO story_bands
SELECT unnest(range(32)) AS band,
       unnest(list_transform(range(32),
              b -> (story_signature[2 * b + 1] << 32) | story_signature[2 * b + 2])),
       article_id, first_seen_at
FROM (
    SELECT article_id, first_seen_at, story_signature FROM read_parquet($file)
    QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY first_seen_at) = 1
) AS first_rows
WHERE len(story_signature) = 64 AND article_id NOT IN (SELECT article_id FROM articles)
"""
