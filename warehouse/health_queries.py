"""What feed health needs from the warehouse: each feed's recent entry dates and when a
new entry of it was last seen. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.warehouse.db import connect, has_table

HISTORY = 20


@dataclass(frozen=True)
class FeedHistory:
    entry_dates: tuple[datetime, ...]  # newest feed-dated entries (the feed's own dates)
    last_new_at: datetime | None  # when we last stored a new article of this feed


def feed_histories(
    db_path: Path, *, per_feed: int = HISTORY, lock_timeout: float = 30.0
) -> dict[str, FeedHistory]:
    """Per source id: its newest ``per_feed`` feed dates and its latest first_seen_at."""
    if not Path(db_path).exists():
        return {}
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "articles"):  # a file created but never migrated
            return {}
        rows = con.execute(
            """
            SELECT source_id,
                   list(published_at ORDER BY published_at DESC)
                       FILTER (WHERE date_method = 'feed' AND published_at IS NOT NULL),
                   max(first_seen_at)
            FROM articles
            GROUP BY source_id
            """
        ).fetchall()
    return {row[0]: FeedHistory(tuple((row[1] or [])[:per_feed]), row[2]) for row in rows}
