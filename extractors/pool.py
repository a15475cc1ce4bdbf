"""Extraction across processes: chunks of pages on a process pool, order preserved.

Extraction is CPU-bound (lxml + trafilatura hold the GIL), so two cores need two processes.
Workers are forked from the caller when it runs a single thread (cheapest: nothing to
import). A caller with threads (Prefect, httpx) must not fork, so its workers come from a
``forkserver`` that has imported the extractors once; on Python 3.11 each such worker still
re-imports the caller's ``__main__`` module (the server ignores ``"__main__"`` in the
preload list), ~1-2 s per pool here.

A worker that dies (segfault in a C extension, out of memory) breaks the whole pool. Chunks
that failed are split in half and retried on a fresh pool; every round halves them, so there
are at most log2(chunk size) + 1 rounds. Single pages still caught in a broken pool are then
run each on a pool of its own: the one that crashes there becomes status ``error``.

Inside ``kept_open()`` the first round of every call shares one pool (per worker count),
shut down when the block ends: a run that extracts its pages chunk after chunk starts its
workers once, not once per chunk. A kept pool that broke is dropped; the retry rounds use
fresh pools as above.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, nullcontext
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TypeVar

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.extractors.forkserver_guard import request_kill_with_parent
from newswatch.extractors.pages import extract_fetched, fallback_article

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_CHUNK = 16
CHUNKS_PER_WORKER = 4
# the guard first: a forkserver killed while importing the rest still ends with its owner
PRELOAD = ["newswatch.extractors.forkserver_guard", "newswatch.extractors.pages"]

Page = tuple[PageFetch, FeedEntry | None]

_kept_lock = threading.Lock()
_kept_pools: dict[int, ProcessPoolExecutor] = {}  # worker count -> the pool kept open
_keeping = 0  # how many kept_open() blocks are open


@contextmanager
def kept_open() -> Iterator[None]:
    """Keep the pools this block's calls start, for the next call (see the module doc)."""
    global _keeping
    with _kept_lock:
        _keeping += 1
    try:
        yield
    finally:
        with _kept_lock:
            _keeping -= 1
            pools = list(_kept_pools.values()) if _keeping == 0 else []
            if _keeping == 0:
                _kept_pools.clear()
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


def _first_round_pool(workers: int) -> tuple[ProcessPoolExecutor, bool]:
    """The pool for a call's first round, and whether it is a kept one."""
    with _kept_lock:
        if not _keeping:
            return _new_pool(workers), False
        pool = _kept_pools.get(workers)
        if pool is None:
            pool = _kept_pools[workers] = _new_pool(workers)
        return pool, True


def _drop_kept(pool: ProcessPoolExecutor) -> None:
    with _kept_lock:
        for workers, kept in list(_kept_pools.items()):
            if kept is pool:
                del _kept_pools[workers]
    pool.shutdown(wait=False, cancel_futures=True)


def extract_many(items: Sequence[Page], workers: int) -> list[ExtractedArticle]:
    """Extract every (fetch, entry) pair; ``workers`` processes (1: in this process)."""
    return map_chunks(_extract_chunk, list(items), workers, on_failure=_failed_page)


def map_chunks(
    func: Callable[[list[Item]], list[Result]],
    items: list[Item],
    workers: int,
    *,
    on_failure: Callable[[Item, BaseException], Result],
) -> list[Result]:
    """``func`` over chunks of ``items`` on ``workers`` processes, results in input order.

    ``func`` must be a module-level function (it is pickled). An item whose chunk keeps
    failing on its own gets ``on_failure(item, error)`` instead of a result.
    """
    if workers <= 1 or len(items) <= 1:
        return _map_in_process(func, items, on_failure)
    results: list[Result | None] = [None] * len(items)
    size = max(1, min(MAX_CHUNK, math.ceil(len(items) / (workers * CHUNKS_PER_WORKER))))
    pending = [(start, items[start : start + size]) for start in range(0, len(items), size)]
    suspects: list[int] = []
    first_round = True
    while pending:
        failed: list[tuple[int, list[Item], BaseException]] = []
        pool, kept = _first_round_pool(workers) if first_round else (_new_pool(workers), False)
        first_round = False
        owned: AbstractContextManager[object] = nullcontext() if kept else pool
        with owned:
            try:
                futures: dict[Future[list[Result]], tuple[int, list[Item]]] = {
                    pool.submit(func, chunk): (start, chunk) for start, chunk in pending
                }
            except BrokenProcessPool:  # a kept pool that broke in an earlier call
                _drop_kept(pool)
                continue  # the same chunks on a fresh pool
            wait(futures)
        if kept and any(isinstance(f.exception(), BrokenProcessPool) for f in futures):
            _drop_kept(pool)
        for future, (start, chunk) in futures.items():
            error = future.exception()
            if error is None:
                results[start : start + len(chunk)] = future.result()
            else:
                failed.append((start, chunk, error))
        pending = []
        for start, chunk, error in failed:
            if len(chunk) > 1:
                half = len(chunk) // 2
                pending += [(start, chunk[:half]), (start + half, chunk[half:])]
            elif isinstance(error, BrokenProcessPool):
                suspects.append(start)  # the culprit, or a bystander of its crash
            else:
                results[start] = on_failure(chunk[0], error)
    for start in suspects:
        results[start] = _run_alone(func, items[start], on_failure)
    return results  # type: ignore[return-value]  # every slot is filled above


def _run_alone(
    func: Callable[[list[Item]], list[Result]],
    item: Item,
    on_failure: Callable[[Item, BaseException], Result],
) -> Result:
    """One item on a pool of its own: a crash here is this item's own."""
    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=_context(),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        future = pool.submit(func, [item])
        wait([future])
    error = future.exception()
    return on_failure(item, error) if error is not None else future.result()[0]


def _map_in_process(
    func: Callable[[list[Item]], list[Result]],
    items: list[Item],
    on_failure: Callable[[Item, BaseException], Result],
) -> list[Result]:
    results: list[Result] = []
    for item in items:
        try:
            results.extend(func([item]))
        except Exception as exc:
            results.append(on_failure(item, exc))
    return results


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initializer: leave when the process that made the pool is gone.

    A pool's owner killed with SIGKILL cannot shut its workers down; they would wait on
    their call queue (and keep the forkserver alive) for ever, one set per crashed run.
    """
    request_kill_with_parent()  # a forked worker's parent is the owner; a forkserver
    # worker's is the forkserver, which ends with the owner (extractors/forkserver_guard.py)
    if owner_gone(parent_pid):  # the owner died while this worker started
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if owner_gone(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def owner_gone(pid: int) -> bool:
    """Whether process ``pid`` has ended: no such process, another user's (the pid was
    reused), or a zombie not reaped yet (killed, its parent not waiting yet: ``kill(pid, 0)``
    still succeeds on it, and a forkserver worker would keep the forkserver, which every
    worker holds a pipe to, alive with it)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no /proc (not Linux): kill(pid, 0) is all we know
    return stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"])


def _context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _extract_chunk(chunk: list[Page]) -> list[ExtractedArticle]:
    return [extract_fetched(fetch, entry) for fetch, entry in chunk]


def _failed_page(item: Page, error: BaseException) -> ExtractedArticle:
    fetch, entry = item
    reason = f"extraction worker failed: {type(error).__name__}: {error}"[:300]
    return fallback_article(fetch.url, fetch.final_url, entry, status="error", reason=reason)
