"""``@one_writer``: a flow function holds its warehouse's writer lock while it runs.

Put under ``@flow`` so every way into the flow takes the lock: ``newswatch run`` (which
already holds it: re-entrant), each ``watch`` tick, ``newswatch serve`` and deployment
runs (which call the flow directly). A held lock is waited for up to ``FLOW_LOCK_WAIT``
seconds (``$NEWSWATCH_WRITER_LOCK_WAIT`` overrides it), then the flow raises
``WarehouseLocked`` naming the holder (the flow run ends Failed with that message; nothing
was fetched or written).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from newswatch.settings import Settings
from newswatch.warehouse.writer_lock import writer_lock

F = TypeVar("F", bound=Callable[..., Any])
FLOW_LOCK_WAIT = 30.0  # seconds; the same patience as a held DuckDB file


def data_dir_for(db: str | None) -> Path:
    """The data directory a flow's ``db`` parameter resolves to (as the flow's Settings)."""
    return Settings.from_env(db_path=Path(db) if db else None).data_dir


def one_writer(purpose: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            wait = float(os.environ.get("NEWSWATCH_WRITER_LOCK_WAIT") or FLOW_LOCK_WAIT)
            with writer_lock(data_dir_for(bound.arguments.get("db")), purpose, wait=wait):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


__all__ = ["FLOW_LOCK_WAIT", "data_dir_for", "one_writer"]
