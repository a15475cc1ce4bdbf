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
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import duckdb_extension_fts

from newswatch.core.errors import WarehouseError
from newswatch.warehouse.search_syntax import (
    SearchQuery,
    Snippet,
    highlighter,
    make_snippet,
    parse_query,
    phrase_re2,
    prefix_re2,
)

INDEX_SCHEMA = "fts_main_articles"
_LAYOUT = "layout"  # one row: docid_is_article_rowid
_TOKEN_SEPARATORS = r"(\.|[^\p{L}\p{N}])+"


NO_SNIPPET = Snippet("", ())
PREFIX_TERMS = 200  # a prefix ranks with (and finds candidates by) its most frequent terms


@dataclass(frozen=True)
class SearchFilters:
    entity_id: str | None = None  # mentioned in the article
    outlets: tuple[str, ...] = ()  # outlet name or source id, any case
    languages: tuple[str, ...] = ()  # articles.language, any case
    since: date | None = None  # published_day on or after


@dataclass(frozen=True)
class SearchHit:
    article_id: str
    score: float
    title: str | None
    outlet: str
    published_day: object
    url: str
    story_id: str | None = None
    source_id: str = ""
    language: str | None = None
    snippet: Snippet = NO_SNIPPET


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


SEARCH_CATALOG = "search_index"  # a lake's index file, attached beside it (reading.py)


def index_schema(con: duckdb.DuckDBPyConnection) -> str | None:
    """Where the BM25 index is: ``fts_main_articles`` in the open database (the snapshot),
    ``search_index.fts_main_articles`` when a lake's index file is attached, else None."""
    row = con.execute(
        "SELECT database_name = current_database() FROM duckdb_schemas() "
        "WHERE schema_name = $s AND database_name IN (current_database(), $c) "
        "ORDER BY 1 DESC LIMIT 1",
        {"s": INDEX_SCHEMA, "c": SEARCH_CATALOG},
    ).fetchone()
    if row is None:
        return None
    return INDEX_SCHEMA if row[0] else f"{SEARCH_CATALOG}.{INDEX_SCHEMA}"


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    return index_schema(con) is not None


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
    con.execute(
        f"CREATE OR REPLACE TABLE {INDEX_SCHEMA}.{_LAYOUT} AS "
        "SELECT coalesce(count(*) = (SELECT count(*) FROM articles) "
        "AND bool_and(a.article_id IS NOT DISTINCT FROM d.name), false) AS docid_is_article_rowid "
        f"FROM {INDEX_SCHEMA}.docs AS d LEFT JOIN articles AS a ON a.rowid = d.docid"
    )


def docid_is_article_rowid(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the index's docids are the snapshot's ``articles`` row ids (the extension numbers
    documents in scan order; checked when the index is built): then a candidate's article row
    is joined on its rowid, not through ``docs.name``. False for an index built without it."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ?",
        [INDEX_SCHEMA, _LAYOUT],
    ).fetchone()
    if not row or not row[0]:
        return False
    flag = con.execute(f"SELECT docid_is_article_rowid FROM {INDEX_SCHEMA}.{_LAYOUT}").fetchone()
    return bool(flag and flag[0])


SIDE_ARTICLES = f"{SEARCH_CATALOG}.main.articles"
SIDE_COLUMNS = ("docid", "outlet", "published_day", "url", "story_id", "source_id", "language")


def side_articles_by_docid(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a lake's attached index file carries the hit columns of its articles keyed
    by docid (``lake_search``): then hits are read from it, not looked up in the lake by id
    (a scan of the lake's article ids per search)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = $c "
        "AND schema_name = 'main' AND table_name = 'articles' "
        "AND column_name IN (SELECT unnest($columns))",
        {"c": SEARCH_CATALOG, "columns": list(SIDE_COLUMNS)},
    ).fetchone()
    return bool(row and row[0] == len(SIDE_COLUMNS))


def _docid_is_rowid(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(f"SELECT count(*) FROM {INDEX_SCHEMA}.docs WHERE docid <> rowid").fetchone()
    return row is not None and row[0] == 0


def search(
    con: duckdb.DuckDBPyConnection,
    text: str | SearchQuery,
    *,
    limit: int = 20,
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    """Articles matching ``text`` (``search_syntax``: words, "phrases", prefix*), best BM25
    score first, each with a highlighted snippet (empty: no index).

    Scores equal ``fts_main_articles.match_bm25(article_id, words)`` (k=1.2, b=0.75) over
    the query's words, phrase words and prefix expansions, but the query starts from those
    terms and their postings instead of scoring every article. Candidates must hold every
    indexed word of each phrase and a term of each prefix; then the filters and the phrase
    and prefix patterns (on title or text) run on those candidates only.
    """
    ix = index_schema(con)
    if ix is None or limit <= 0:
        return []
    query = parse_query(text) if isinstance(text, str) else text
    filters = filters or SearchFilters()
    load_extension(con)
    ranking = _indexed_terms(con, ix, query.ranking_text())
    groups = [[t] for p in query.phrases for t in _indexed_terms(con, ix, " ".join(p))]
    for prefix in query.prefixes:
        expanded = _prefix_terms(con, ix, prefix)
        if not expanded:
            return []  # no indexed word starts so: nothing can match
        ranking += expanded
        groups.append(expanded)
        whole = _indexed_terms(con, ix, " ".join(_tokens(con, ix, prefix)[:-1]))  # "shahed-1*"
        ranking += whole
        groups += [[t] for t in whole]
    terms = dict(ranking)  # termid -> df
    if not terms:
        return []
    patterns = [phrase_re2(p) for p in query.phrases] + [prefix_re2(p) for p in query.prefixes]
    conditions, values = _filter_conditions(filters)
    params: dict[str, object] = {
        "termids": list(terms),
        "dfs": list(terms.values()),
        "limit": limit,
        **values,
        **{f"p{i}": pattern for i, pattern in enumerate(patterns)},
    }
    if groups:
        params["group_nos"] = [n for n, group in enumerate(groups) for _ in group]
        params["group_termids"] = [termid for group in groups for termid, _ in group]
        params["groups"] = len(groups)
    by_docid = ix != INDEX_SCHEMA and side_articles_by_docid(con)
    sql = matches_sql(
        grouped=bool(groups),
        conditions=conditions,
        patterns=len(patterns),
        by_rowid=ix == INDEX_SCHEMA and docid_is_article_rowid(con),
        index=ix,
        by_docid=by_docid,
        fetch=not by_docid,
    )
    if by_docid:
        rows = _side_hits(con, con.execute(sql, params).fetchall())
    else:
        rows = con.execute(sql, params).fetchall()
    light = highlighter(query, _stems(con, query.words))
    return [
        SearchHit(
            article_id,
            score,
            title,
            outlet,
            day,
            url,
            story_id,
            source_id,
            language,
            make_snippet(body, light),
        )
        for article_id, score, title, outlet, day, url, story_id, source_id, language, body in rows
    ]


_HIT_COLUMNS = "article_id, title, outlet, published_day, url, story_id, source_id, language, text"


def _side_hits(con: duckdb.DuckDBPyConnection, top: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The hit rows of the best (docid, score) pairs, read from the lake index file's copy
    of the articles (``SIDE_ARTICLES``) one docid at a time, best score first, then by
    article id (``matches_sql``'s order).

    One lookup per docid, each a constant filter the scan checks against its zone maps, so
    only the vector holding the hit is read whole: a join (or one ``IN`` list) on the hits'
    docids scans every row group a hit falls in, titles and texts included (at 1 M
    articles, 20 hits: 0.1 s of the 0.13 s a search took, 0.013 s so).
    """
    if not top:
        return []
    lookups = " UNION ALL ".join(
        f"(SELECT docid, {_HIT_COLUMNS} FROM {SIDE_ARTICLES} WHERE docid = {int(docid)})"
        for docid, _ in top
    )
    sql = f"""
WITH top AS (SELECT unnest($docids) AS docid, unnest($scores) AS score)
SELECT a.article_id, top.score, a.title, a.outlet, a.published_day, a.url, a.story_id,
       a.source_id, a.language, a.text
FROM top JOIN ({lookups}) AS a USING (docid)
ORDER BY top.score DESC, a.article_id
"""
    docids = [docid for docid, _ in top]
    scores = [score for _, score in top]
    return con.execute(sql, {"docids": docids, "scores": scores}).fetchall()


def entities_by_alias(con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
    """Entity ids whose stored mentions matched the alias ``alias`` (any case)."""
    rows = con.execute(
        "SELECT DISTINCT entity_id FROM mentions WHERE lower(alias) = lower($a) ORDER BY 1",
        {"a": alias},
    ).fetchall()
    return [str(r[0]) for r in rows]


def _indexed_terms(con: duckdb.DuckDBPyConnection, ix: str, text: str) -> list[tuple[int, int]]:
    """(termid, df) of the index terms of ``text``'s words (stopwords and unknown words drop)."""
    if not text.strip():
        return []
    rows = con.execute(_QUERY_TERMS.format(ix=ix), {"query": text}).fetchall()
    return [(int(t), int(df)) for t, df in rows]


def _prefix_terms(con: duckdb.DuckDBPyConnection, ix: str, prefix: str) -> list[tuple[int, int]]:
    """The index terms a ``prefix*`` word stands for: terms starting with its last token or
    with that token's stem (``factory*`` → ``factori``), the most frequent first."""
    sql = _PREFIX_TERMS.format(ix=ix)
    rows = con.execute(sql, {"prefix": prefix, "limit": PREFIX_TERMS}).fetchall()
    return [(int(t), int(df)) for t, df in rows]


def _tokens(con: duckdb.DuckDBPyConnection, ix: str, text: str) -> list[str]:
    """``text`` split as the index splits it (lower-cased)."""
    row = con.execute(
        f"SELECT list_filter({ix}.tokenize($t), t -> t <> '')", {"t": text}
    ).fetchone()
    return [str(t) for t in row[0]] if row and row[0] else []


def _stems(con: duckdb.DuckDBPyConnection, words: tuple[str, ...]) -> dict[str, str]:
    if not words:
        return {}
    lowered = [w.lower() for w in words]
    rows = con.execute(
        "SELECT w, stem(w, 'porter') FROM (SELECT unnest($words) AS w)", {"words": lowered}
    ).fetchall()
    return {str(w): str(s) for w, s in rows}


# {ix}: where the index is (``index_schema``)
_QUERY_TERMS = """
SELECT dict.termid, dict.df
FROM {ix}.dict AS dict
WHERE dict.term IN (
    SELECT stem(unnest({ix}.tokenize($query)), 'porter')
    EXCEPT
    SELECT sw FROM {ix}.stopwords
)
"""

_PREFIX_TERMS = """
WITH token AS (
    SELECT list_filter({ix}.tokenize($prefix), t -> t <> '')[-1] AS t
)
SELECT dict.termid, dict.df
FROM {ix}.dict AS dict, token
WHERE token.t IS NOT NULL
  AND (starts_with(dict.term, token.t) OR starts_with(dict.term, stem(token.t, 'porter')))
ORDER BY dict.df DESC, dict.termid
LIMIT $limit
"""


def _filter_conditions(filters: SearchFilters) -> tuple[list[str], dict[str, object]]:
    """SQL conditions on ``a`` (articles) for the filters in use, and their parameters."""
    conditions: list[str] = []
    values: dict[str, object] = {}
    if filters.outlets:
        conditions.append(
            "(lower(a.outlet) IN (SELECT unnest($outlets)) "
            "OR lower(a.source_id) IN (SELECT unnest($outlets)))"
        )
        values["outlets"] = [o.lower() for o in filters.outlets]
    if filters.languages:
        conditions.append("lower(a.language) IN (SELECT unnest($languages))")
        values["languages"] = [lang.lower() for lang in filters.languages]
    if filters.since is not None:
        conditions.append("a.published_day >= $since")
        values["since"] = filters.since
    if filters.entity_id is not None:
        conditions.append(
            "a.article_id IN (SELECT article_id FROM mentions WHERE entity_id = $entity)"
        )
        values["entity"] = filters.entity_id
    return conditions, values


def matches_sql(
    *,
    grouped: bool,
    conditions: list[str],
    patterns: int,
    by_rowid: bool,
    index: str = INDEX_SCHEMA,
    by_docid: bool = False,
    fetch: bool = True,
) -> str:
    """The search statement for the parts a query uses.

    Scores every candidate (a document with the query's terms that, when ``grouped``, holds a
    term of each required group: each indexed phrase word, each prefix's expansion); then
    the filter ``conditions``; then the patterns ($p0, $p1, …, constants compiled once) on the
    survivors, each condition naming the candidate's score so the optimizer keeps it after
    the join instead of pushing the regex into a scan of every article's text; the best
    ``$limit`` last, and only their rows fetched whole. With neither filters nor patterns
    the limit comes first, straight after scoring. ``index`` is ``index_schema``'s answer;
    ``by_docid``: the article rows are the lake index file's copy (``SIDE_ARTICLES``).
    Without ``fetch`` the statement returns the best ``(docid, score)`` pairs alone, best
    first (``search`` then reads their rows by docid, ``_side_hits``).
    """

    def article(alias: str) -> str:
        if by_docid:
            return f"JOIN {SIDE_ARTICLES} AS a ON a.docid = {alias}.docid"
        if by_rowid:
            return f"JOIN articles AS a ON a.rowid = {alias}.docid"
        return (
            f"JOIN {index}.docs AS d ON d.docid = {alias}.docid "
            "JOIN articles AS a ON a.article_id = d.name"
        )

    ctes = [
        "query_terms AS (SELECT unnest($termids) AS termid, unnest($dfs) AS df)",
        f"""tf AS (
    SELECT docid, termid, count(*) AS tf, any_value(len) AS len
    FROM {index}.terms
    WHERE termid IN (SELECT termid FROM query_terms)
    GROUP BY 1, 2
)""",
    ]
    if grouped:
        ctes.append(
            "required AS (SELECT unnest($group_nos) AS grp, unnest($group_termids) AS termid)"
        )
        ctes.append(
            """eligible AS (
    SELECT tf.docid FROM tf JOIN required USING (termid)
    GROUP BY tf.docid
    HAVING count(DISTINCT required.grp) = $groups
)"""
        )
    ctes.append(
        f"""scored AS MATERIALIZED (
    SELECT tf.docid,
           sum(
               log(((stats.num_docs - q.df) + 0.5) / (q.df + 0.5) + 1)
               * (tf.tf * (1.2 + 1))
               / (tf.tf + 1.2 * (1 - 0.75 + 0.75 * (tf.len / stats.avgdl)))
           ) AS score
    FROM tf
    JOIN query_terms AS q USING (termid)
    CROSS JOIN {index}.stats AS stats
    {"WHERE tf.docid IN (SELECT docid FROM eligible)" if grouped else ""}
    GROUP BY tf.docid
)"""
    )
    last = "scored"
    if conditions:
        ctes.append(
            f"""kept AS MATERIALIZED (
    SELECT s.docid, s.score FROM scored AS s {article("s")}
    WHERE {" AND ".join(conditions)}
)"""
        )
        last = "kept"
    if patterns:
        checks = " AND ".join(
            f"(regexp_matches(coalesce(a.title, ''), $p{i}) OR regexp_matches(a.text, $p{i}))"
            for i in range(patterns)
        )
        ctes.append(
            f"""matched AS MATERIALIZED (
    SELECT c.docid, c.score FROM {last} AS c {article("c")}
    WHERE c.score IS NULL OR ({checks})
)"""
        )
        last = "matched"
    ctes.append(f"top AS (SELECT docid, score FROM {last} ORDER BY score DESC, docid LIMIT $limit)")
    if not fetch:
        return (
            "WITH " + ",\n".join(ctes) + "\nSELECT docid, score FROM top ORDER BY score DESC, docid"
        )
    return (
        "WITH "
        + ",\n".join(ctes)
        + f"""
SELECT a.article_id, top.score, a.title, a.outlet, a.published_day, a.url, a.story_id,
       a.source_id, a.language, a.text
FROM top {article("top")}
ORDER BY top.score DESC, a.article_id
"""
    )
