"""Full-text search with DuckDB's FTS extension (BM25), loaded from the pip wheel's file.

``duckdb-extension-fts`` ships the extension for our exact duckdb version, so search works
offline (extensions cannot be downloaded here). The index covers ``articles.title`` and
``articles.text``. FTS indexes are not incremental and a rebuild takes minutes at a million
articles, so the index is built on the snapshot copy (``newswatch.warehouse.snapshot``), never
inside the writer's lock window. Tokens are runs of letters/digits in any script (Cyrillic and
Persian included), lower-cased, Porter-stemmed (a no-op for non-Latin words).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import duckdb_extension_fts

from newswatch.core.errors import WarehouseError

INDEX_SCHEMA = "fts_main_articles"
_TOKEN_SEPARATORS = r"(\.|[^\p{L}\p{N}])+"


@dataclass(frozen=True)
class SearchHit:
    article_id: str
    score: float
    title: str | None
    outlet: str
    published_day: object
    url: str


def extension_path() -> Path:
    """The ``fts.duckdb_extension`` file matching the installed duckdb version."""
    root = Path(duckdb_extension_fts.__file__).parent / "extensions"
    wanted = root / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if wanted.is_file():
        return wanted
    found = sorted(root.glob("*/fts.duckdb_extension"))
    if not found:
        raise WarehouseError(f"FTS extension not found under {root}")
    return found[-1]


def load_extension(con: duckdb.DuckDBPyConnection) -> None:
    path = str(extension_path()).replace("'", "''")
    con.execute(f"LOAD '{path}'")  # a file path from our own install, never user input


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_schemas() "
        "WHERE database_name = current_database() AND schema_name = ?",
        [INDEX_SCHEMA],
    ).fetchone()
    return bool(row and row[0])


def refresh_index(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build the BM25 index over articles' title and text, laid out for ``search``.

    After the extension builds it, the postings table is rewritten in term order with each
    document's length beside it, so a query reads only the row groups of its own terms and
    needs no join to score; ``docs`` is kept in docid order so that docid = rowid, which
    turns the final name lookup into a rowid fetch.
    """
    load_extension(con)
    con.execute(
        "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', "
        "stemmer = 'porter', stopwords = 'english', strip_accents = 0, lower = 1, "
        f"ignore = '{_TOKEN_SEPARATORS}', overwrite = 1)"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {INDEX_SCHEMA}.terms AS "
        "SELECT t.docid, t.fieldid, t.termid, d.len "
        f"FROM {INDEX_SCHEMA}.terms AS t JOIN {INDEX_SCHEMA}.docs AS d USING (docid) "
        "ORDER BY t.termid, t.docid"
    )
    if not _docid_is_rowid(con):
        con.execute(
            f"CREATE OR REPLACE TABLE {INDEX_SCHEMA}.docs AS "
            f"SELECT * FROM {INDEX_SCHEMA}.docs ORDER BY docid"
        )
    if not _docid_is_rowid(con):
        raise WarehouseError("FTS index: document ids are not dense; cannot lay out docs")


def _docid_is_rowid(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.docs WHERE docid <> rowid").fetchone()
    return row is not None and row[0] == 0


def search(con: duckdb.DuckDBPyConnection, text: str, *, limit: int = 20) -> list[SearchHit]:
    """Articles matching any word of ``text``, best BM25 score first (empty: no index).

    Scores equal ``fts_main_articles.match_bm25(article_id, text)`` (k=1.2, b=0.75), but the
    query starts from the query's terms and their postings instead of scoring every
    article, which keeps it fast on large databases.
    """
    if not has_index(con) or limit <= 0:
        return []
    load_extension(con)
    terms = con.execute(_QUERY_TERMS, {"query": text}).fetchall()
    if not terms:
        return []
    top = con.execute(
        _TOP_DOCS,
        {"termids": [t for t, _ in terms], "dfs": [df for _, df in terms], "limit": limit},
    ).fetchall()
    if not top:
        return []
    scores = dict(top)
    rows = con.execute(_DOC_ARTICLES, {"docids": list(scores)}).fetchall()
    hits = [SearchHit(name, scores[docid], *rest) for docid, name, *rest in rows]
    return sorted(hits, key=lambda h: (-h.score, h.article_id))


_QUERY_TERMS = f"""
SELECT dict.termid, dict.df
FROM {INDEX_SCHEMA}.dict AS dict
WHERE dict.term IN (
    SELECT stem(unnest({INDEX_SCHEMA}.tokenize($query)), 'porter')
    EXCEPT
    SELECT sw FROM {INDEX_SCHEMA}.stopwords
)
"""

_TOP_DOCS = f"""
WITH query_terms AS (
    SELECT unnest($termids) AS termid, unnest($dfs) AS df
),
tf AS (
    SELECT docid, termid, count(*) AS tf, any_value(len) AS len
    FROM {INDEX_SCHEMA}.terms
    WHERE termid IN (SELECT termid FROM query_terms)
    GROUP BY 1, 2
)
SELECT tf.docid,
       sum(
           log(((stats.num_docs - q.df) + 0.5) / (q.df + 0.5) + 1)
           * (tf.tf * (1.2 + 1))
           / (tf.tf + 1.2 * (1 - 0.75 + 0.75 * (tf.len / stats.avgdl)))
       ) AS score
FROM tf
JOIN query_terms AS q USING (termid)
CROSS JOIN {INDEX_SCHEMA}.stats AS stats
GROUP BY tf.docid
ORDER BY score DESC, tf.docid
LIMIT $limit
"""

_DOC_ARTICLES = f"""
SELECT d.docid, d.name, a.title, a.outlet, a.published_day, a.url
FROM (
    SELECT docid, name FROM {INDEX_SCHEMA}.docs
    WHERE rowid IN (SELECT unnest($docids))
) AS d
JOIN articles AS a ON a.article_id = d.name
"""
