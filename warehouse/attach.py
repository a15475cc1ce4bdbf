"""The SQL any DuckDB client (the duckdb CLI, a notebook) runs to read the warehouse.

``newswatch attach`` prints it. A DuckDB-file warehouse is read through its snapshot (the
live file is locked by each load; ``live`` names it instead, for a session that ends
before the next run). A lake is read live: the two extensions loaded from their wheels by
path, the lake attached read-only and in use, its BM25 index file attached beside it (once
a load has built it). The FTS extension is loaded too, so ``fts_main_articles.match_bm25``
works where an index is.
Nothing is ever downloaded: every extension is named by its file.
"""

from __future__ import annotations

from pathlib import Path

from newswatch.core.settings import default_snapshot_path
from newswatch.warehouse import search
from newswatch.warehouse.db import is_lake_catalog
from newswatch.warehouse.extensions import load_statement, sql_string
from newswatch.warehouse.lake import LakeConfig, attach_statements, search_index_path

FILE_ALIAS = "newswatch"


def reader_statements(db_path: Path, *, live: bool = False) -> list[str]:
    """The statements, in order, that open the warehouse at ``db_path`` read-only."""
    db_path = Path(db_path).absolute()
    fts = load_statement(search.extension_path())
    if is_lake_catalog(db_path):
        index = search_index_path(db_path)
        statements = [*attach_statements(LakeConfig.for_path(db_path), read_only=True), fts]
        if index.exists():  # built by the first load that adds articles
            statements.append(
                f"ATTACH {sql_string(str(index))} AS {search.SEARCH_CATALOG} (READ_ONLY)"
            )
        return statements
    path = db_path if live else default_snapshot_path(db_path)
    return [
        fts,
        f"ATTACH {sql_string(str(path))} AS {FILE_ALIAS} (READ_ONLY)",
        f"USE {FILE_ALIAS}",
    ]
