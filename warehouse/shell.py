"""What ``newswatch sql`` lets a user's statement do: read the warehouse, nothing else.

Three walls, each enough for most mistakes and together for all we know of:

1. the database is opened read-only (``connect(..., read_only=True)``): no INSERT, UPDATE,
   CREATE TABLE, CHECKPOINT or ATTACH … READ_WRITE can change it;
2. ``warehouse.db.lock_down``: no file system access (COPY … TO, EXPORT, read_csv of other
   files, ATTACH of other files, INSTALL, LOAD) and a locked configuration;
3. :func:`check_query` here: only SELECT-type statements (SELECT, WITH, FROM-first, VALUES,
   SHOW, DESCRIBE, SUMMARIZE, PRAGMA table_info…) and EXPLAIN [ANALYZE] of one.

The third wall is needed because DuckDB keeps the open database's own file reachable with
external access disabled: ``COPY (SELECT 'oops') TO '<that file>' (USE_TMP_FILE false)``
still overwrote it (duckdb 1.5.5), and a COPY is not a SELECT.
"""

from __future__ import annotations

import re

import duckdb

from newswatch.errors import WarehouseError

_EXPLAIN = re.compile(r"^\s*explain\s+(?:analyze\s+)?(?P<inner>.*)$", re.IGNORECASE | re.DOTALL)
LIMITS = (
    "newswatch sql runs queries only (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, "
    "EXPLAIN) on a read-only connection with no file access: no COPY, EXPORT, ATTACH, "
    "INSTALL, LOAD, SET or writes, no reading other files but --allow-read DIR; write results "
    "with --out FILE --format csv|json|parquet (see docs/QUERIES.md)"
)


def check_query(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise :class:`WarehouseError` unless every statement of ``query`` is a query."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {exc}") from exc
    if not statements:
        raise WarehouseError("query failed: no statement given")
    for statement in statements:
        kind = _kind(con, statement)
        if kind is not None:
            first = statement.query.strip().split(None, 1)[0].upper() if statement.query else ""
            raise WarehouseError(f"query refused: {first or kind} statements are not run. {LIMITS}")


def _kind(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> str | None:
    """``None`` for an allowed statement, else the name of its refused type."""
    if statement.type == duckdb.StatementType.SELECT:
        return None
    if statement.type == duckdb.StatementType.EXPLAIN:
        match = _EXPLAIN.match(statement.query or "")
        inner = con.extract_statements(match.group("inner")) if match else []
        if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
            return None
    return statement.type.name
