"""Emerging terms across runs, ranked for review: outlet spread, frequency, growth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.warehouse.db import connect, has_table

GROWTH_WINDOW_DAYS = 7


@dataclass(frozen=True)
class EmergingTermRow:
    term: str
    count: int  # over every run
    outlets: int  # distinct outlets over every run
    runs: int
    recent: int  # count in the last GROWTH_WINDOW_DAYS before the newest run
    previous: int  # count in the window before that
    growth: float  # (recent + 1) / (previous + 1)
    first_seen_at: datetime
    last_seen_at: datetime
    example: str | None
    outlet_names: tuple[str, ...]


_RANKED = """
WITH terms AS (
    SELECT * FROM emerging_terms
), newest AS (
    SELECT max(first_seen_at) AS at FROM terms
), per_term AS (
    SELECT t.term,
           sum(t.count) AS count,
           count(DISTINCT t.run_id) AS runs,
           sum(t.count) FILTER (
               WHERE t.first_seen_at > n.at - to_days($days)) AS recent,
           sum(t.count) FILTER (
               WHERE t.first_seen_at <= n.at - to_days($days)
                 AND t.first_seen_at > n.at - to_days(2 * $days)) AS previous,
           min(t.first_seen_at) AS first_seen_at,
           max(t.first_seen_at) AS last_seen_at,
           arg_min(t.example, t.first_seen_at) AS example,
           list_sort(list_distinct(flatten(list(coalesce(t.outlet_names, []))))) AS names,
           max(t.outlets) AS max_outlets
    FROM terms AS t, newest AS n
    GROUP BY t.term
)
SELECT term, count, greatest(len(names), max_outlets) AS outlets, runs,
       coalesce(recent, 0), coalesce(previous, 0),
       (coalesce(recent, 0) + 1.0) / (coalesce(previous, 0) + 1.0) AS growth,
       first_seen_at, last_seen_at, example, names
FROM per_term
ORDER BY outlets DESC, count DESC, growth DESC, term
LIMIT $limit
"""


def ranked_emerging_terms(db_path: Path, limit: int = 50) -> list[EmergingTermRow]:
    """Emerging terms of every run, best first (read-only)."""
    with connect(db_path, read_only=True) as con:
        if not has_table(con, "emerging_terms"):
            return []
        rows = con.execute(_RANKED, {"days": GROWTH_WINDOW_DAYS, "limit": limit}).fetchall()
    return [
        EmergingTermRow(
            term=row[0],
            count=int(row[1]),
            outlets=int(row[2]),
            runs=int(row[3]),
            recent=int(row[4]),
            previous=int(row[5]),
            growth=float(row[6]),
            first_seen_at=row[7],
            last_seen_at=row[8],
            example=row[9],
            outlet_names=tuple(row[10] or ()),
        )
        for row in rows
    ]
