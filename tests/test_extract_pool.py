"""Extraction across processes: same results as in-process, a crash costs one page only."""

from __future__ import annotations

import contextlib
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
    # workers start on demand: the first call may have been answered by one of them alone
    assert first & second  # a worker of the first call answered the second
    assert len(first | second) <= 2  # one pool of two workers answered both
    assert not third & (first | second)  # after the block, a fresh pool
    for pid in first | second:  # the kept workers were shut down with the block
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


def hold_the_gil(chunk: list[str]) -> list[str]:
    """Say this worker started, then run a regex that never ends and never lets go of the
    GIL (catastrophic backtracking inside the C matcher): only a signal stops it."""
    import re

    Path(os.environ["POOL_TEST_STARTED"], str(os.getpid())).touch()
    re.match(r"(a+)+$", "a" * 40 + "b")
    return chunk


def marked_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


OWNER = """
import threading, time
from newswatch.extractors.pool import map_chunks
from tests.test_extract_pool import hold_the_gil
threading.Thread(target=time.sleep, args=(120,), daemon=True).start()  # threads: forkserver
map_chunks(hold_the_gil, ["a", "b", "c", "d"], 2, on_failure=lambda item, error: item)
"""


def test_a_killed_owner_takes_its_forkserver_and_busy_workers_with_it(tmp_path: Path) -> None:
    """kill -9 of a pool's owner while its forkserver workers are deep in a C call that holds
    the GIL: within seconds nothing of it is left (the fresh-clone crash campaign found the
    forkserver, its resource tracker and two workers alive 5 s after such a kill)."""
    import subprocess as sp

    started = tmp_path / "started"
    started.mkdir()
    marker = f"POOL_TEST_MARK={tmp_path.name}"
    env = dict(os.environ, POOL_TEST_STARTED=str(started), POOL_TEST_MARK=tmp_path.name)
    repo = Path(__file__).resolve().parents[1]
    owner = sp.Popen([sys.executable, "-c", OWNER], env=env, cwd=repo, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
            assert owner.poll() is None, "the owner ended before its workers started"
            time.sleep(0.1)
        assert len(list(started.iterdir())) == 2, "the two workers never started"
        assert len(marked_processes(marker)) >= 4  # owner, forkserver, tracker, 2 workers
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 5
        while marked_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = marked_processes(marker)
        assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in left]
    finally:
        for pid in marked_processes(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
