"""The ``gnews_links`` cache: each Google News link decoded once (``extractors/gnews.py``).

Read before selection (a cached link is replaced by its publisher's URL, so a stored
article is recognised without asking Google again) and written by the fetch stage right
after its decodes, in one short transaction of its own: a cache row is a fact about Google's
link, not a result of the run, and losing one only costs one more decode. Insert-if-new on
``link``; the first decode wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from newswatch.warehouse.db import connect, has_table


def publishers(
    db_path: Path, links: Sequence[str], *, lock_timeout: float = 30.0
) -> dict[str, str]:
    """{link: publisher URL} for the cached ones among ``links`` (none without a file)."""
    if not links or not Path(db_path).exists():
        return {}
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "gnews_links"):  # a file not migrated yet: nothing cached
            return {}
        rows = con.execute(
            "SELECT link, publisher_url FROM gnews_links WHERE link IN (SELECT unnest($links))",
            {"links": list(links)},
        ).fetchall()
    return {str(link): str(url) for link, url in rows}


def record(
    db_path: Path, decoded: Sequence[tuple[str, str, datetime]], *, lock_timeout: float = 30.0
) -> int:
    """Cache (link, publisher URL, decoded at) rows; returns how many were new. New links
    by anti-join, not ``ON CONFLICT``: the statement runs on a lake too (no unique keys)."""
    if not decoded:
        return 0
    first = {link: (link, url, when) for link, url, when in reversed(decoded)}
    links, urls, times = (list(column) for column in zip(*first.values(), strict=True))
    with connect(db_path, lock_timeout=lock_timeout) as con:
        before = _count(con)
        con.execute(
            """
            INSERT INTO gnews_links (link, publisher_url, decoded_at)
            SELECT * FROM (
                SELECT unnest($links) AS link, unnest($urls), unnest($times)
            ) AS given
            WHERE given.link NOT IN (SELECT link FROM gnews_links)
            """,
            {"links": links, "urls": urls, "times": times},
        )
        return _count(con) - before


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM gnews_links").fetchone()
    return int(row[0]) if row else 0


__all__ = ["publishers", "record"]
