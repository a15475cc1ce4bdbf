"""Writes an operator asks for by hand on ``feed_state`` (``newswatch sources reset``).

Resetting a feed clears what holds it back: its failure count, its next-poll time (failure
backoff, a Retry-After, or its cadence) and its retirement (``retired_at``, ``gone_since``,
when the schema has them). Its validators (ETag, Last-Modified), its last status and error
stay: they are history, and the next poll overwrites them. The next run (or ``watch`` tick)
then polls the feed at once. One writer connection, one transaction; nothing is changed
when an id is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.core.errors import NewswatchError
from newswatch.warehouse.db import connect

# cleared by a reset when the column exists (the retirement columns came in migration 6)
_CLEARED = {
    "consecutive_failures": "0",
    "next_poll_at": "NULL",
    "retired_at": "NULL",
    "gone_since": "NULL",
}


class UnknownFeed(NewswatchError):
    """A source id that the warehouse has never seen; the message names the known ones."""


@dataclass(frozen=True)
class FeedReset:
    """One feed as it was just before its reset."""

    source_id: str
    consecutive_failures: int
    next_poll_at: datetime | None
    last_status: str | None
    last_error: str | None
    retired_at: datetime | None = None


@dataclass(frozen=True)
class ResetReport:
    db_missing: bool = False  # no database file: nothing stored, nothing to reset
    reset: tuple[FeedReset, ...] = ()
    never_polled: tuple[str, ...] = ()  # known sources with no stored state yet


def reset_feed_state(
    db_path: Path, source_ids: Sequence[str] | None, *, lock_timeout: float = 30.0
) -> ResetReport:
    """Clear backoff, failure count, next poll and retirement of ``source_ids`` (None: every
    feed with stored state). An id found neither in ``feed_state`` nor in ``sources`` raises
    :class:`UnknownFeed` and changes nothing. A missing file is not created."""
    if not Path(db_path).exists():
        return ResetReport(db_missing=True)
    with connect(db_path, lock_timeout=lock_timeout) as con:
        columns = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feed_state' "
                "AND database_name = current_database()"
            ).fetchall()
        }
        retired = "retired_at" if "retired_at" in columns else "NULL"
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute(
                "SELECT source_id, consecutive_failures, next_poll_at, last_status, "
                f"last_error, {retired} FROM feed_state ORDER BY source_id"
            ).fetchall()
            stored = {row[0]: FeedReset(*row) for row in rows}
            catalogue = {r[0] for r in con.execute("SELECT source_id FROM sources").fetchall()}
            wanted = list(dict.fromkeys(source_ids)) if source_ids is not None else list(stored)
            unknown = [sid for sid in wanted if sid not in stored and sid not in catalogue]
            if unknown:
                known = sorted(set(stored) | catalogue)
                raise UnknownFeed(
                    f"unknown source id(s): {', '.join(unknown)}; known in {db_path}: "
                    f"{', '.join(known) if known else 'none (no run has loaded yet)'}; "
                    "nothing was reset"
                )
            targets = [sid for sid in wanted if sid in stored]
            if targets:
                sets = ", ".join(f"{c} = {v}" for c, v in _CLEARED.items() if c in columns)
                con.execute(
                    f"UPDATE feed_state SET {sets} WHERE source_id IN "
                    f"({', '.join('?' for _ in targets)})",
                    targets,
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return ResetReport(
        reset=tuple(stored[sid] for sid in targets),
        never_polled=tuple(sid for sid in wanted if sid not in stored),
    )


__all__ = ["FeedReset", "ResetReport", "UnknownFeed", "reset_feed_state"]
