"""Fetch benchmark: the guarded Fetcher against a bare httpx download, same URLs, same run.

    python bench/fetch/run.py                 # 200 feeds x 50 items, 5,000 pages
    python bench/fetch/run.py --pages 1000    # quicker

A local server (bench/fetch/server.py, its own process) listens on 127.0.0.1-4. Figures:
- pages/s of ``Fetcher.fetch_pages`` (SSRF check, robots.txt, per-host limits, bounded
  gzip decoding, deadlines) vs a bare ``httpx.AsyncClient`` gathering the same URLs with
  the same global concurrency; ratio goal >= 0.9 (best of two rounds each, interleaved);
- first poll of every feed (download + parse in worker threads), entries/s;
- second poll with the stored ETags (every feed answers 304): wall time, goal <= 1 s;
- peak RSS of this process (``ru_maxrss``), goal <= 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from newswatch.core.records import Source  # noqa: E402
from newswatch.core.settings import Settings  # noqa: E402
from newswatch.extractors.feed_state import next_state  # noqa: E402
from newswatch.extractors.http import Fetcher  # noqa: E402

COMMAND = "python bench/fetch/run.py"
HOSTS = 4
BATCHES = 5


def start_server(feeds: int, items: int) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--hosts", str(HOSTS),
         "--feeds", str(feeds), "--items", str(items)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    port = int(server.stdout.readline())
    return server, port


def page_urls(port: int, pages: int) -> list[str]:
    return [f"http://127.0.0.{1 + n % HOSTS}:{port}/page/{n}.html" for n in range(pages)]


async def bare_httpx(urls: list[str], concurrency: int) -> tuple[float, int]:
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def get(url: str) -> int:
            async with limit:
                response = await client.get(url)
                return len(response.content)

        started = time.perf_counter()
        sizes = await asyncio.gather(*(get(url) for url in urls))
        return time.perf_counter() - started, sum(1 for size in sizes if size)


async def guarded(urls: list[str], settings: Settings) -> tuple[float, int]:
    async with Fetcher(settings) as fetcher:
        started = time.perf_counter()
        pages = await fetcher.fetch_pages(urls)
        elapsed = time.perf_counter() - started
    failed = [p for p in pages if p.status != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} pages failed, e.g. {failed[0].error}")
    return elapsed, len(pages)


async def feeds_twice(port: int, feeds: int, settings: Settings) -> dict[str, float]:
    sources = [
        Source(f"feed-{n}", f"Feed {n}", f"http://127.0.0.{1 + n % HOSTS}:{port}/feed/{n}.xml")
        for n in range(feeds)
    ]
    async with Fetcher(settings) as fetcher:
        started = time.perf_counter()
        first = await fetcher.poll_feeds(sources, {})
        first_s = time.perf_counter() - started
        now = datetime.now(UTC)
        states = {p.source_id: next_state(None, p, now, settings) for p in first}
        bare_304_s = await bare_conditional(sources, states, settings.max_connections)
        started = time.perf_counter()
        second = await fetcher.poll_feeds(sources, states)
        second_s = time.perf_counter() - started
    assert all(p.status == "ok" for p in first), [p.error for p in first if p.error][:3]
    return {
        "first_s": first_s,
        "entries": sum(len(p.entries) for p in first),
        "second_s": second_s,
        "bare_304_s": bare_304_s,
        "unchanged": sum(p.status == "not_modified" for p in second),
    }


async def bare_conditional(sources: list[Source], states: dict, concurrency: int) -> float:  # type: ignore[type-arg]
    """The same 200 conditional GETs with bare httpx: the floor for the 304 poll."""
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def get(source: Source) -> int:
            async with limit:
                etag = states[source.id].etag
                response = await client.get(source.url, headers={"If-None-Match": etag})
                return response.status_code

        started = time.perf_counter()
        codes = await asyncio.gather(*(get(s) for s in sources))
        assert set(codes) == {304}, set(codes)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--pages", type=int, default=5000)
    args = parser.parse_args()

    settings = Settings(allow_private=("127.0.0.0/8",), max_entries_per_feed=args.items)
    concurrency = min(settings.max_connections, settings.max_per_host * HOSTS)
    server, port = start_server(args.feeds, args.items)
    try:
        urls = page_urls(port, args.pages)
        asyncio.run(bare_httpx(urls[:200], concurrency))  # warm up both sides
        # Interleave the two clients batch by batch (order flipped each time) so a change
        # in machine load hits both alike; every URL is fetched once by each.
        bare_total = ours_total = bare_cpu = ours_cpu = 0.0
        batch = max(1, len(urls) // BATCHES)
        for index, start in enumerate(range(0, len(urls), batch)):
            chunk = urls[start : start + batch]
            runs = [("bare", bare_httpx(chunk, concurrency)), ("ours", guarded(chunk, settings))]
            for name, coroutine in runs if index % 2 == 0 else runs[::-1]:
                cpu_started = time.process_time()
                elapsed = asyncio.run(coroutine)[0]
                cpu = time.process_time() - cpu_started
                if name == "bare":
                    bare_total += elapsed
                    bare_cpu += cpu
                else:
                    ours_total += elapsed
                    ours_cpu += cpu
        feeds = asyncio.run(feeds_twice(port, args.feeds, settings))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    bare_rate = args.pages / bare_total
    ours_rate = args.pages / ours_total
    ratio = ours_rate / bare_rate
    print(
        f"fetch benchmark: {args.pages} pages over {HOSTS} hosts, "
        f"{args.feeds} feeds x {args.items} items (local server, separate process)"
    )
    print(
        f"  pages/s  Fetcher {ours_rate:6.0f}   bare httpx {bare_rate:6.0f}   "
        f"ratio {ratio:.2f}  (goal >= 0.90; {BATCHES} interleaved batches, "
        f"{ours_total:.1f} s vs {bare_total:.1f} s)"
    )
    print(
        f"  client CPU per page  Fetcher {1000 * ours_cpu / args.pages:.2f} ms   bare httpx "
        f"{1000 * bare_cpu / args.pages:.2f} ms   ratio {bare_cpu / ours_cpu:.2f}  "
        f"(not affected by other load on the machine)"
    )
    print(
        f"  feeds    first poll {feeds['first_s']:.2f} s, {feeds['entries']:.0f} entries "
        f"({feeds['entries'] / feeds['first_s']:.0f} entries/s)"
    )
    print(
        f"  304 poll {feeds['unchanged']:.0f}/{args.feeds} unchanged in "
        f"{feeds['second_s']:.2f} s  (goal <= 1 s); bare httpx, same conditional GETs: "
        f"{feeds['bare_304_s']:.2f} s (ratio {feeds['bare_304_s'] / feeds['second_s']:.2f})"
    )
    print(f"  peak RSS {peak_mb:.0f} MB  (goal <= 300 MB)")
    print(f"  reproduce: {COMMAND}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
