"""``@one_writer``: a flow function holds its warehouse's writer lock while it runs.

Put under ``@flow`` so every way into the flow takes the lock: ``newswatch run`` (which
already holds it: re-entrant), each ``watch`` tick, ``newswatch serve`` and deployment
runs (which call the flow directly). A held lock is waited for up to
``Settings.writer_lock_wait`` seconds (``$NEWSWATCH_WRITER_LOCK_WAIT``), then the flow raises
``WarehouseLocked`` naming the holder (the flow run ends Failed with that message; nothing
was fetched or written).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from newswatch.core.settings import Settings
from newswatch.warehouse.writer_lock import writer_lock

P = ParamSpec("P")
R = TypeVar("R")


def settings_for(db: str | None) -> Settings:
    """The settings a flow's ``db`` parameter gives (as the flow itself builds them)."""
    return Settings.from_env(db_path=Path(db) if db else None)


def one_writer(purpose: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            settings = settings_for(bound.arguments.get("db"))
            with writer_lock(settings.data_dir, purpose, wait=settings.writer_lock_wait):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


__all__ = ["one_writer", "settings_for"]
