"""Extraction across processes: same results as in-process, a crash costs one page only."""

from __future__ import annotations

import gzip
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from newswatch.core.records import FeedEntry, PageFetch
from newswatch.extractors.pool import _context as pool_context
from newswatch.extractors.pool import extract_many, kept_open, map_chunks

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def corpus_fetches(corpus_dir: Path, count: int) -> list[tuple[PageFetch, FeedEntry | None]]:
    paths = sorted((corpus_dir / "articles" / "aeb" / "html").glob("*.html.gz"))[:count]
    return [
        (
            PageFetch(
                f"https://example.org/{path.name}",
                NOW,
                "ok",
                body=gzip.decompress(path.read_bytes()),
                content_type="text/html",
            ),
            None,
        )
        for path in paths
    ]


def test_two_workers_give_the_same_articles_in_the_same_order(corpus_dir: Path) -> None:
    entry = FeedEntry("s", "g", "https://example.org/gone", "Gone", "Summary.", NOW)
    items = corpus_fetches(corpus_dir, 9)
    items.insert(3, (PageFetch("https://example.org/gone", NOW, "error", error="HTTP 404"), entry))
    items.insert(6, (PageFetch("https://example.org/r.pdf", NOW, "ok", body=b"%PDF-1.4"), None))
    in_process = extract_many(items, 1)
    pooled = extract_many(items, 2)
    assert pooled == in_process
    assert [a.url for a in pooled] == [fetch.url for fetch, _ in items]
    assert [a.status for a in pooled].count("ok") == 9
    assert pooled[3].status == "fetch_failed"
    assert pooled[6].status == "not_html"


def test_empty_batch_gives_empty_list() -> None:
    assert extract_many([], 2) == []


def crash_on_poison(chunk: list[str]) -> list[str]:
    """Kills its worker process outright (as a segfault would) when it meets 'poison'."""
    if "poison" in chunk:
        os._exit(1)
    return [item.upper() for item in chunk]


def test_worker_crash_marks_only_the_culprit() -> None:
    items = [f"page{number}" for number in range(40)]
    items[17] = "poison"
    results = map_chunks(crash_on_poison, items, 2, on_failure=lambda item, error: f"failed:{item}")
    assert results[17] == "failed:poison"
    assert results[:17] == [item.upper() for item in items[:17]]
    assert results[18:] == [item.upper() for item in items[18:]]


def raise_on_poison(chunk: list[str]) -> list[str]:
    if "poison" in chunk:
        raise RuntimeError("bad page")
    return [item.upper() for item in chunk]


def test_exception_in_process_marks_only_the_culprit() -> None:
    results = map_chunks(
        raise_on_poison, ["a", "poison", "b"], 1, on_failure=lambda item, error: str(error)
    )
    assert results == ["A", "bad page", "B"]


def test_threaded_caller_gets_the_same_results(corpus_dir: Path) -> None:
    """With another thread alive (as under Prefect) workers come from a fork server."""
    items = corpus_fetches(corpus_dir, 4)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
        pooled = extract_many(items, 2)
    finally:
        stop.set()
        helper.join()
    assert pooled == extract_many(items, 1)


def worker_pids(chunk: list[str]) -> list[int]:
    return [os.getpid() for _ in chunk]


def test_kept_open_reuses_one_pool_across_calls_and_closes_it_after() -> None:
    items = [str(number) for number in range(16)]
    with kept_open():
        first = set(map_chunks(worker_pids, items, 2, on_failure=lambda item, error: 0))
        second = set(map_chunks(worker_pids, items, 2, on_failure=lambda item, error: 0))
    third = set(map_chunks(worker_pids, items, 2, on_failure=lambda item, error: 0))
    assert os.getpid() not in first
    assert second <= first  # the same worker processes answered both calls
    assert not third & first  # after the block, a fresh pool
    for pid in first:  # the kept workers were shut down with the block
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_a_crash_in_a_kept_pool_marks_only_the_culprit_and_the_next_call_works() -> None:
    items = [f"page{number}" for number in range(40)]
    items[17] = "poison"
    with kept_open():
        results = map_chunks(crash_on_poison, items, 2, on_failure=lambda i, e: f"failed:{i}")
        again = map_chunks(crash_on_poison, ["a", "b", "c"], 2, on_failure=lambda i, e: "x")
    assert results[17] == "failed:poison"
    assert results[:17] == [item.upper() for item in items[:17]]
    assert again == ["A", "B", "C"]


def test_an_owner_killed_but_not_reaped_yet_counts_as_gone() -> None:
    """A killed owner stays a zombie until its parent waits for it; kill(pid, 0) still
    succeeds on a zombie, so a worker polling that way outlived it (and kept its
    forkserver alive: every forkserver worker holds the forkserver's pipe)."""
    import subprocess as sp

    from newswatch.extractors.pool import owner_gone

    child = sp.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not owner_gone(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not owner_gone(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owner_gone(child.pid)  # a zombie: not reaped yet
        assert Path(f"/proc/{child.pid}").exists()
    finally:
        child.wait()
    assert owner_gone(child.pid)
