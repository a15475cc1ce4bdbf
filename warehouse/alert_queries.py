"""Read queries the alerting step needs (entities already seen, the outbox for people)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.warehouse.db import connect, has_table


@dataclass(frozen=True)
class AlertRow:
    alert_id: str
    rule: str
    kind: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None
    headline: str | None


def mentioned_entities(db_path: Path, *, lock_timeout: float = 30.0) -> set[str]:
    """Entity ids mentioned by any stored article (empty before the first load)."""
    if not Path(db_path).exists():
        return set()
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "mentions"):
            return set()
        return {row[0] for row in con.execute("SELECT DISTINCT entity_id FROM mentions").fetchall()}


def list_alerts(
    db_path: Path, *, status: str | None = None, limit: int = 50, lock_timeout: float = 30.0
) -> list[AlertRow]:
    """Newest alerts first, optionally of one status."""
    if not Path(db_path).exists():
        return []
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        rows = con.execute(
            """
            SELECT alert_id, rule, kind, channel, status, attempts, created_at, sent_at,
                   last_error, json_extract_string(payload, '$.headline')
            FROM alerts
            WHERE $status IS NULL OR status = $status
            ORDER BY created_at DESC, alert_id
            LIMIT $limit
            """,
            {"status": status, "limit": limit},
        ).fetchall()
    return [AlertRow(*row) for row in rows]
