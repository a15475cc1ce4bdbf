"""A lake's BM25 index, in a DuckDB file beside its catalog (``x.lake.search.duckdb``).

DuckDB's FTS index cannot be built on a DuckLake table (it fails at commit, measured with
ducklake 1.5.5), so the index lives in a side file holding ``articles(article_id, title,
text)`` and the index over them in the extension's layout (``fts_main_articles``: dict,
docs, terms, stats, stopwords and its ``tokenize`` macro), which ``search.search`` reads.
Readers attach it beside the lake (``search.SEARCH_CATALOG``) and join hits to the lake's
articles by id, so every other column is always the lake's current one.

Work grows with new articles, not with history:

- The file records the lake snapshot it is up to date with. A publish after a load that
  changed no article (an unchanged run: every feed 304) reads the catalog's snapshot list
  and does nothing else.
- After a load that changed articles, only the change is indexed: the lake's change feed
  (``ducklake_table_changes`` from the recorded snapshot to the newest) names the articles
  inserted, deleted or updated since; each one whose title or text differs from its copy
  in the file has its postings removed (document frequencies lowered) and is tokenized
  and added as a new document, exactly as the extension would (same tokenizer, stopwords
  and Porter stems; ``tests/test_lake_search.py`` compares with a full rebuild). The new
  postings are appended in term order per publish; :func:`compact_lake_index` re-sorts the
  whole postings table (a maintenance step, not needed for correct answers).
- The file is changed on a copy that replaces it atomically, so a reader with the index
  attached keeps a consistent view and the load never waits for a reader; publishers take
  turns on a lock file beside it. The copy is a plain file copy (its cost grows with the
  index size, ~1 GB/s here; the indexing itself grows with the batch).
- A full rebuild happens only when there is no usable file yet or the change feed no
  longer reaches back to the recorded snapshot (expired by maintenance).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from newswatch.warehouse import search
from newswatch.warehouse.db import connect_lake, open_duckdb
from newswatch.warehouse.lake import LAKE

SOURCE_TABLE = "index_source"  # one row: the lake snapshot the index is up to date with
# One row: the snapshot the postings were last in term order at (a full build or a
# compaction); absent in a file from before it (then the next compaction runs).
COMPACTED_TABLE = "index_compacted"
IX = search.INDEX_SCHEMA
FORMAT = 2  # 2: articles also hold docid and the hit columns (search reads hits from here)
# The lake columns copied beside title and text (``search.SIDE_COLUMNS`` without docid).
COPIED = tuple(c for c in search.SIDE_COLUMNS if c != "docid")


@dataclass(frozen=True)
class LakeIndexReport:
    path: Path
    rebuilt: bool  # False: no article changed since the index was last brought up to date
    articles: int  # documents in the index (-1: not looked at)
    seconds: float
    mode: str = "unchanged"  # "unchanged", "incremental" or "full"
    changed: int = 0  # documents removed or (re)indexed by an incremental publish
    copy_seconds: float = 0.0  # the file copy an incremental publish works on


def articles_version(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the newest lake snapshot that changed ``articles`` (0: never)."""
    row = con.execute(
        f"""
        WITH t AS (
            SELECT CAST(table_id AS VARCHAR) AS id FROM ducklake_table_info('{LAKE}')
            WHERE table_name = 'articles'
        )
        SELECT coalesce(max(s.snapshot_id), 0)
        FROM ducklake_snapshots('{LAKE}') AS s, t
        WHERE list_contains(flatten(map_values(s.changes)), t.id)
           OR list_contains(flatten(map_values(s.changes)), 'main.articles')
        """
    ).fetchone()
    return int(row[0]) if row else 0


def catalog_articles_version(catalog: Path) -> int | None:
    """``articles_version`` read straight from a SQLite catalog file (DuckLake's catalog
    tables ``ducklake_table`` and ``ducklake_snapshot_changes``, read-only, milliseconds)
    without starting DuckDB and the lake extensions; None when it cannot be read so."""
    try:
        uri = Path(catalog).absolute().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
            ids = [
                str(r[0])
                for r in db.execute(
                    "SELECT t.table_id FROM ducklake_table AS t "
                    "JOIN ducklake_schema AS s USING (schema_id) "
                    "WHERE t.table_name = 'articles' AND s.schema_name = 'main'"
                )
            ]
            rows = db.execute(
                "SELECT snapshot_id, changes_made FROM ducklake_snapshot_changes "
                "WHERE changes_made LIKE '%articles%' OR "
                + " OR ".join(["changes_made LIKE ?"] * len(ids) or ["false"])
                + " ORDER BY snapshot_id DESC",
                [f"%:{i}%" for i in ids],
            ).fetchall()
    except (sqlite3.Error, OSError):
        return None
    wanted = {*ids, '"main"."articles"'}
    for snapshot_id, changes in rows:
        values = {part.partition(":")[2] for part in str(changes or "").split(",")}
        if values & wanted:
            return int(snapshot_id)
    return 0


def indexed_version(index_path: Path) -> int | None:
    """The lake snapshot the index file is up to date with (None: no usable file)."""
    if not index_path.exists():
        return None
    try:
        with open_duckdb(index_path, read_only=True) as con:
            row = con.execute(f"SELECT version, format FROM {SOURCE_TABLE}").fetchone()
    except duckdb.Error:  # no such file, or an older layout (no format): rebuilt
        return None
    return int(row[0]) if row and row[1] == FORMAT else None


def publish_lake_index(
    catalog: Path, index_path: Path, *, incremental: bool = True
) -> LakeIndexReport:
    """Bring the index file up to date with the lake's articles (see the module notes);
    ``incremental=False`` rebuilds it from scratch."""
    started = time.perf_counter()
    with _publish_lock(index_path):
        built = indexed_version(index_path)
        if built is not None and catalog_articles_version(catalog) == built:
            return LakeIndexReport(index_path, False, -1, time.perf_counter() - started)
        return _publish(catalog, index_path, built, incremental, started)


def _publish(
    catalog: Path, index_path: Path, built: int | None, incremental: bool, started: float
) -> LakeIndexReport:
    with connect_lake(catalog, read_only=True) as lake:
        version = articles_version(lake)
        if built == version:
            return LakeIndexReport(index_path, False, -1, time.perf_counter() - started)
        if incremental and built is not None and built < version:
            report = _incremental(lake, index_path, built, version, started)
            if report is not None:
                return report
        return _full(lake, index_path, version, started)


def compact_lake_index(index_path: Path) -> float:
    """Rewrite the index's postings in term order (appended publishes leave each batch's
    postings in a run of their own); seconds taken. Same answers before and after.

    When no publish appended postings since the last full build or compaction (the file's
    version is the one :data:`COMPACTED_TABLE` records), the file is left as it is: an idle
    maintenance run reads two rows instead of copying and re-sorting the whole index."""
    started = time.perf_counter()
    with _publish_lock(index_path):
        if _compacted(index_path):
            return time.perf_counter() - started
        with _replacing(index_path, copy=True) as tmp, open_duckdb(tmp) as con:
            con.execute(
                f"CREATE OR REPLACE TABLE {IX}.terms AS "
                f"SELECT * FROM {IX}.terms ORDER BY termid, docid"
            )
            _record_compacted(con)
            con.execute("CHECKPOINT")
    return time.perf_counter() - started


def _compacted(index_path: Path) -> bool:
    """Whether the file's postings are in term order at its own version (no publish since)."""
    try:
        with open_duckdb(index_path, read_only=True) as con:
            row = con.execute(
                f"SELECT s.version = c.version FROM {SOURCE_TABLE} AS s, {COMPACTED_TABLE} AS c"
            ).fetchone()
    except duckdb.Error:  # no such table yet (a file from before it): compact
        return False
    return bool(row and row[0])


def _record_compacted(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {COMPACTED_TABLE} AS SELECT version FROM {SOURCE_TABLE}")


def attach_index(con: duckdb.DuckDBPyConnection, index_path: Path) -> bool:
    """Attach the index file read-only as ``search.SEARCH_CATALOG`` (False: none yet)."""
    if not index_path.exists():
        return False
    con.execute(f"ATTACH '{_sql_path(index_path)}' AS {search.SEARCH_CATALOG} (READ_ONLY)")
    return True


def _full(
    lake: duckdb.DuckDBPyConnection, index_path: Path, version: int, started: float
) -> LakeIndexReport:
    with _replacing(index_path, copy=False) as tmp:
        lake.execute(f"ATTACH '{_sql_path(tmp)}' AS fresh")
        lake.execute(
            "CREATE TABLE fresh.articles AS "
            f"SELECT article_id, title, text, {', '.join(COPIED)} "
            f"FROM {LAKE}.articles ORDER BY article_id"
        )
        lake.execute(
            f"CREATE TABLE fresh.{SOURCE_TABLE} AS "
            f"SELECT {int(version)} AS version, {FORMAT} AS format"
        )
        lake.execute("DETACH fresh")
        with open_duckdb(tmp) as fresh:
            search.refresh_index(fresh)
            fresh.execute(
                "CREATE OR REPLACE TABLE articles AS SELECT d.docid, a.* "
                f"FROM articles AS a JOIN {IX}.docs AS d ON d.name = a.article_id "
                "ORDER BY d.docid"
            )
            row = fresh.execute("SELECT count(*) FROM articles").fetchone()
            _record_compacted(fresh)  # refresh_index wrote the postings in term order
            fresh.execute("CHECKPOINT")
    count = int(row[0]) if row else 0
    return LakeIndexReport(index_path, True, count, time.perf_counter() - started, "full", count)


def _incremental(
    lake: duckdb.DuckDBPyConnection,
    index_path: Path,
    built: int,
    version: int,
    started: float,
) -> LakeIndexReport | None:
    """Index the articles changed between lake snapshots ``built`` and ``version`` on a
    copy of the file; None when the change feed cannot be read (then rebuild)."""
    try:
        delta = lake.execute(_NET_CHANGES, {"start": built + 1, "end": version}).to_arrow_table()
    except duckdb.Error:
        return None  # snapshots expired by maintenance, or an older file: rebuild
    copy_started = time.perf_counter()
    with _replacing(index_path, copy=True) as tmp:
        copy_seconds = time.perf_counter() - copy_started
        with open_duckdb(tmp) as con:
            search.load_extension(con)
            con.register("delta_view", delta)
            con.execute("BEGIN TRANSACTION")
            changed = _apply(con)
            con.execute(f"UPDATE {SOURCE_TABLE} SET version = {int(version)}")
            con.execute("COMMIT")
            row = con.execute(f"SELECT num_docs FROM {IX}.stats").fetchone()
            con.execute("CHECKPOINT")
    return LakeIndexReport(
        index_path,
        True,
        int(row[0]) if row and row[0] is not None else 0,
        time.perf_counter() - started,
        "incremental",
        changed,
        copy_seconds,
    )


def _apply(con: duckdb.DuckDBPyConnection) -> int:
    """Apply ``delta_view`` (article_id, present, title, text and the copied columns: each
    changed article's final state) to the index open on ``con``; returns the documents
    removed or (re)indexed. An article whose title and text are unchanged keeps its
    postings; its copied columns (a story id set later) are updated in place."""
    differs = " OR ".join(f"articles.{c} IS DISTINCT FROM d.{c}" for c in COPIED)
    con.execute(
        f"UPDATE articles SET {', '.join(f'{c} = d.{c}' for c in COPIED)} "
        "FROM delta_view AS d WHERE d.present AND articles.article_id = d.article_id "
        f"AND articles.title IS NOT DISTINCT FROM d.title "
        f"AND articles.text IS NOT DISTINCT FROM d.text AND ({differs})"
    )
    con.execute(
        """
        CREATE TEMP TABLE changed AS
        SELECT d.* FROM delta_view AS d
        LEFT JOIN articles AS a ON a.article_id = d.article_id
        WHERE CASE WHEN d.present
                   THEN a.article_id IS NULL OR a.title IS DISTINCT FROM d.title
                        OR a.text IS DISTINCT FROM d.text
                   ELSE a.article_id IS NOT NULL END
        """
    )
    row = con.execute("SELECT count(*) FROM changed").fetchone()
    changed = int(row[0]) if row else 0
    if not changed:
        return 0
    for statement in _APPLY:
        con.execute(statement.format(ix=IX))
    return changed


# Each article's final state over the snapshot range: its last change, where the delete
# (or pre-image) of a snapshot comes before its insert (or post-image).
_NET_CHANGES = f"""
SELECT article_id, change_type IN ('insert', 'update_postimage') AS present, title, text,
       {", ".join(COPIED)}
FROM ducklake_table_changes('{LAKE}', 'main', 'articles', $start, $end)
QUALIFY row_number() OVER (
    PARTITION BY article_id
    ORDER BY snapshot_id DESC, change_type IN ('insert', 'update_postimage') DESC
) = 1
"""

# {ix}: the index schema. Mirrors the extension's build: a field's tokens are
# ``tokenize`` (lower-cased, split on non-letters/digits), empty ones and stopwords dropped,
# then Porter-stemmed; df counts documents, a document's len its postings.
_APPLY = (
    """CREATE TEMP TABLE gone AS
       SELECT d.docid FROM {ix}.docs AS d JOIN changed AS c ON d.name = c.article_id""",
    """UPDATE {ix}.dict SET df = dict.df - g.n
       FROM (SELECT termid, count(DISTINCT docid) AS n FROM {ix}.terms
             WHERE docid IN (SELECT docid FROM gone) GROUP BY termid) AS g
       WHERE dict.termid = g.termid""",
    "DELETE FROM {ix}.terms WHERE docid IN (SELECT docid FROM gone)",
    "DELETE FROM {ix}.docs WHERE docid IN (SELECT docid FROM gone)",
    "DELETE FROM {ix}.dict WHERE df <= 0",
    "DELETE FROM articles WHERE article_id IN (SELECT article_id FROM changed)",
    """CREATE TEMP TABLE new_docs AS
       SELECT (SELECT coalesce(max(docid), -1) FROM {ix}.docs)
              + row_number() OVER (ORDER BY article_id) AS docid,
              * EXCLUDE (present)
       FROM changed WHERE present""",
    "INSERT INTO articles BY NAME SELECT * FROM new_docs ORDER BY docid",
    """CREATE TEMP TABLE new_postings AS
       WITH tokens AS (
           SELECT docid, 0 AS fieldid, unnest({ix}.tokenize(title)) AS w FROM new_docs
           UNION ALL
           SELECT docid, 1 AS fieldid, unnest({ix}.tokenize(text)) AS w FROM new_docs
       )
       SELECT docid, fieldid, stem(w, 'porter') AS term FROM tokens
       WHERE w IS NOT NULL AND len(w) > 0 AND w NOT IN (SELECT sw FROM {ix}.stopwords)""",
    """INSERT INTO {ix}.dict
       SELECT (SELECT coalesce(max(termid), -1) FROM {ix}.dict)
              + row_number() OVER (ORDER BY term), term, 0
       FROM (SELECT DISTINCT term FROM new_postings
             WHERE term NOT IN (SELECT term FROM {ix}.dict))""",
    """UPDATE {ix}.dict SET df = dict.df + n.n
       FROM (SELECT term, count(DISTINCT docid) AS n FROM new_postings GROUP BY term) AS n
       WHERE dict.term = n.term""",
    """INSERT INTO {ix}.docs
       SELECT d.docid, d.article_id, count(p.docid)
       FROM new_docs AS d LEFT JOIN new_postings AS p USING (docid)
       GROUP BY d.docid, d.article_id ORDER BY d.docid""",
    """INSERT INTO {ix}.terms
       SELECT p.docid, p.fieldid, dict.termid, docs.len
       FROM new_postings AS p
       JOIN {ix}.dict AS dict USING (term)
       JOIN {ix}.docs AS docs USING (docid)
       ORDER BY dict.termid, p.docid""",
    """CREATE OR REPLACE TABLE {ix}.stats AS
       SELECT count(docs.docid) AS num_docs, sum(docs.len) / count(docs.len) AS avgdl
       FROM {ix}.docs AS docs""",
    "UPDATE {ix}.layout SET docid_is_article_rowid = false",
)


@contextmanager
def _publish_lock(index_path: Path) -> Iterator[None]:
    """Publishers of one index take turns (readers never take it)."""
    lock = index_path.with_name(index_path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _replacing(index_path: Path, *, copy: bool) -> Iterator[Path]:
    """A temporary file (a copy of the index with ``copy``) that replaces the index file
    atomically, synced, when the block ends without an error; removed otherwise."""
    tmp = index_path.with_name(f".{index_path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        if copy:
            shutil.copyfile(index_path, tmp)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, index_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
