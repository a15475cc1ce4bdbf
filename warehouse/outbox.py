"""The alerts outbox: rows are written by the load (same transaction as the articles they
announce), read here when due, and marked after each delivery attempt.

An alert is unique on (rule, story_id, channel); its ``alert_id`` is also the idempotency key
sent to receivers, identical on every retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch.warehouse.db import connect, has_table


@dataclass(frozen=True)
class OutboxAlert:
    alert_id: str
    rule: str
    kind: str
    story_id: str
    channel: str
    delivery: str
    article_id: str | None
    created_at: datetime
    attempts: int
    idempotency_key: str
    payload_json: str


@dataclass(frozen=True)
class DeliveryAttempt:
    """The outcome of one try. Failed with ``retry_at`` -> pending again; without -> failed."""

    alert_id: str
    ok: bool
    error: str | None = None
    retry_at: datetime | None = None


_COLUMNS = (
    "alert_id, rule, kind, story_id, channel, delivery, article_id, created_at, attempts, "
    "idempotency_key, payload"
)


def due_alerts(
    db_path: Path,
    now: datetime,
    *,
    limit: int = 1000,
    lock_timeout: float = 30.0,
    ignore_backoff: bool = False,
) -> list[OutboxAlert]:
    """Pending alerts whose next attempt is due, oldest first (empty if no database yet);
    ``ignore_backoff`` takes every pending alert (``alerts send --now``)."""
    if not Path(db_path).exists():
        return []
    with connect(db_path, read_only=True, lock_timeout=lock_timeout) as con:
        if not has_table(con, "alerts"):
            return []
        rows = con.execute(
            f"""
            SELECT {_COLUMNS} FROM alerts
            WHERE status = 'pending'
              AND ($ignore_backoff OR coalesce(next_attempt_at, created_at) <= $now)
            ORDER BY created_at, alert_id
            LIMIT $limit
            """,
            {"now": now, "limit": limit, "ignore_backoff": ignore_backoff},
        ).fetchall()
    return [OutboxAlert(*row) for row in rows]


def record_attempts(
    db_path: Path, attempts: Sequence[DeliveryAttempt], now: datetime, *, lock_timeout: float = 30.0
) -> int:
    """Mark each attempt (sent / pending with a retry time / failed); returns rows updated.

    Alerts already marked sent are left alone, so recording the same success twice is
    harmless.
    """
    if not attempts:
        return 0
    with connect(db_path, lock_timeout=lock_timeout) as con:
        updated = con.execute(
            """
            UPDATE alerts SET
                attempts = alerts.attempts + 1,
                status = CASE WHEN o.ok THEN 'sent'
                              WHEN o.retry_at IS NOT NULL THEN 'pending'
                              ELSE 'failed' END,
                sent_at = CASE WHEN o.ok THEN $now ELSE alerts.sent_at END,
                last_error = CASE WHEN o.ok THEN alerts.last_error ELSE o.error END,
                next_attempt_at = CASE WHEN o.ok THEN NULL ELSE o.retry_at END
            FROM (
                SELECT unnest($ids) AS alert_id, unnest($oks) AS ok, unnest($errors) AS error,
                       unnest($retry_at) AS retry_at
            ) AS o
            WHERE alerts.alert_id = o.alert_id AND alerts.status <> 'sent'
            """,
            {
                "ids": [a.alert_id for a in attempts],
                "oks": [a.ok for a in attempts],
                "errors": [a.error for a in attempts],
                "retry_at": [a.retry_at for a in attempts],
                "now": now,
            },
        ).fetchone()
    return int(updated[0]) if updated else 0
