"""Date accuracy in the page's own offset, ours against bare trafilatura and htmldate, per set.

    python -m bench.dates.run                       # or: python bench/dates/run.py
    python -m bench.dates.run --baseline e189672    # also an older extractors/dates.py
    python -m bench.dates.run --losses              # list the pages a peer gets right, we not

Sets with a true date in ../shared/corpus/articles: Fundus (``publishing_date``, an instant
with the page's offset) and trafilatura's evaluation pages (``date``, a day). The measure is
the issue's: the publication day **in the page's own offset** (the truth's local day) equals
the day the method gives. Ours is ``dates.article_date`` (no feed entry: the page decides)
read as ``Stamp.day`` (the stored instant shifted by the stored offset); ``--baseline REV``
runs that revision's ``extractors/dates.py`` in the same process and counts its date the way
it was stored, as a UTC day. Peers: ``trafilatura.extract_metadata(...).date`` (what bare
trafilatura 2.3.1 reports, htmldate inside) and ``htmldate.find_date`` on its own.

Then each of our methods on its own (page metadata, htmldate, URL) on Fundus: coverage, day
accuracy (local day) and exact (within 60 s), and how many ``date_flag`` marks; and the CPU
the date step costs with a trusted feed date before (the page searched anyway, its answer
thrown away) and now (``article_date`` reads the metadata only), against the extraction's CPU.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import htmldate
import trafilatura

from bench.extract.corpus import ARTICLES_DIR, REPO_ROOT, Page, aeb_pages, fundus_pages
from newswatch.core.records import FeedEntry
from newswatch.extractors.date_trust import date_flag
from newswatch.extractors.dates import (
    Stamp,
    article_date,
    page_date,
    stamp_from_htmldate,
    stamp_from_meta,
    stamp_from_url,
)
from newswatch.extractors.pages import decode_html, extract_article, load_html, read_page_meta

COMMAND = "python -m bench.dates.run"
EXACT = timedelta(seconds=60)
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DatedPage:
    set: str
    key: str
    url: str
    body: bytes
    truth_day: date
    truth_at: datetime | None  # the true instant, when the truth has a time (Fundus)
    crawled: datetime | None = None


def dated_pages() -> list[DatedPage]:
    crawled = _fundus_crawl_dates()
    pages = [_fundus(p, crawled.get(p.key)) for p in fundus_pages() if p.truth_date]
    return [*pages, *_trafilatura_pages()]


def _fundus(page: Page, crawled: datetime | None) -> DatedPage:
    assert page.truth_date is not None
    truth = datetime.fromisoformat(page.truth_date)  # the page's offset kept
    aware = truth if truth.tzinfo else truth.replace(tzinfo=UTC)
    return DatedPage("fundus", page.key, page.url, page.body, truth.date(), aware, crawled)


def _trafilatura_pages() -> list[DatedPage]:
    folder = ARTICLES_DIR / "trafilatura"
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [
        DatedPage(
            "trafilatura",
            key,
            item["url"],
            gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()),
            date.fromisoformat(item["date"][:10]),
            None,
        )
        for key, item in sorted(truth.items())
        if item.get("date")
    ]


def _fundus_crawl_dates() -> dict[str, datetime]:
    found = {}
    for meta_path in (ARTICLES_DIR / "fundus").glob("*/meta.info"):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        for name, item in meta.items():
            crawled = datetime.fromisoformat(item["crawl_date"]).replace(tzinfo=UTC)
            found[f"{meta_path.parent.name}/{name}"] = crawled
    return found


def baseline_module(revision: str) -> ModuleType:
    """``extractors/dates.py`` as it was at ``revision``, importable beside today's."""
    source = subprocess.run(
        ["git", "show", f"{revision}:extractors/dates.py"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "dates_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("dates_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- what each method says


Days = dict[str, date | None]


def days_of(page: DatedPage, baseline: ModuleType | None) -> tuple[Days, dict[str, Any]]:
    """The day each contender gives ``page``, and our details (for --losses)."""
    html = decode_html(page.body, None)
    tree = load_html(html)
    days: Days = {}
    ours: dict[str, Any] = {}
    if tree is not None:
        json_ld = read_page_meta(tree, page.url).published
        if baseline is not None:
            old, _ = baseline.page_date(tree, page.url, json_ld)
            days["before (UTC day)"] = old.astimezone(UTC).date() if old else None
        found = article_date(tree, page.url, json_ld, None)
        stamp = Stamp(found.published_at, found.offset_minutes) if found.published_at else None
        days["ours (local day)"] = stamp.day if stamp else None
        ours = {"method": found.method, "stamp": stamp}
    days["trafilatura"] = _day(trafilatura.extract_metadata(html, default_url=page.url).date)
    days["htmldate"] = _day(
        htmldate.find_date(html, url=page.url, extensive_search=True, original_date=True)
    )
    return days, ours


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def accuracy_table(pages: list[DatedPage], found: list[Days]) -> None:
    sets = sorted({p.set for p in pages})
    names = list(found[0]) if found else []
    print(f"{'set':<12} {'pages':>5} " + " ".join(f"{n:>17}" for n in names))
    for name in sets:
        rows = [(p, f) for p, f in zip(pages, found, strict=True) if p.set == name]
        cells = []
        for contender in names:
            right = sum(f.get(contender) == p.truth_day for p, f in rows)
            cells.append(f"{right:>3}/{len(rows):<3} = {right / len(rows):.3f}")
        print(f"{name:<12} {len(rows):>5} " + " ".join(f"{c:>17}" for c in cells))


def losses(pages: list[DatedPage], found: list[Days], ours: list[dict[str, Any]]) -> None:
    print("\nPages a peer dates right (local day) and we do not:")
    for page, days, detail in zip(pages, found, ours, strict=True):
        mine = days.get("ours (local day)")
        if mine == page.truth_day:
            continue
        if page.truth_day not in (days.get("trafilatura"), days.get("htmldate")):
            continue
        stamp = detail.get("stamp")
        local = stamp.local.isoformat() if stamp else None
        print(
            f"  {page.set}/{page.key}: truth {page.truth_at or page.truth_day}, ours {local} "
            f"by {detail.get('method')}, trafilatura {days.get('trafilatura')}, "
            f"htmldate {days.get('htmldate')}"
        )


# ---------------------------------------------------------------- each method on its own


@dataclass
class Tally:
    pages: int = 0
    found: int = 0
    day: int = 0
    exact: int = 0
    flagged: int = 0

    def add(self, stamp: Stamp | None, page: DatedPage) -> None:
        self.pages += 1
        if stamp is None:
            return
        self.found += 1
        self.day += stamp.day == page.truth_day
        self.exact += page.truth_at is not None and abs(stamp.at - page.truth_at) <= EXACT
        self.flagged += date_flag(stamp.at, page.crawled or FAR_FUTURE) is not None

    def row(self, name: str) -> str:
        found = max(self.found, 1)
        return (
            f"{name:<18} {self.found:>4}/{self.pages:<4} {self.found / max(self.pages, 1):>8.2f} "
            f"{self.day / found:>8.2f} {self.exact / found:>8.2f} {self.flagged:>7}"
        )


def methods_table(pages: list[DatedPage]) -> None:
    tallies: dict[str, Tally] = {}
    for page in (p for p in pages if p.set == "fundus"):
        tree = load_html(decode_html(page.body, None))
        if tree is None:
            continue
        json_ld = read_page_meta(tree, page.url).published
        chosen, method = page_date(tree, page.url, json_ld)
        for name, stamp in (
            ("page_meta", stamp_from_meta(tree, json_ld)),
            ("htmldate", stamp_from_htmldate(tree, page.url)),
            ("url", stamp_from_url(page.url)),
            (f"{method or 'none'} (chosen)", chosen),
            ("all chosen", chosen),
        ):
            tallies.setdefault(name, Tally()).add(stamp, page)
    print(
        f"\n{'method':<18} {'found':>9} {'coverage':>8} {'day acc':>8} {'exact':>8} {'flagged':>7}"
    )
    for name in ("page_meta", "htmldate", "url"):
        print(tallies[name].row(name))
    for name in sorted(n for n in tallies if n.endswith("(chosen)")):
        print(tallies[name].row(name))
    print(tallies["all chosen"].row("all chosen"))


# ---------------------------------------------------------------- CPU with a feed date


def cpu_section(sets: dict[str, list[Page]], baseline: ModuleType | None, rounds: int) -> None:
    """CPU of the date step on feed-dated pages: the page searched and its answer dropped
    (``baseline``'s page_date + reconcile_date, else today's page_date) against
    ``article_date``; and the whole ``extract_article`` with that entry, for the share.
    The three are timed page by page, interleaved, in this one process."""
    old_step: Callable[..., object]
    if baseline is not None:

        def old_step(tree: Any, url: str, json_ld: Any, entry: FeedEntry) -> object:
            found, method = baseline.page_date(tree, url, json_ld)
            return baseline.reconcile_date(entry, found, method)

    else:

        def old_step(tree: Any, url: str, json_ld: Any, entry: FeedEntry) -> object:
            return page_date(tree, url, json_ld)

    when = datetime(2026, 1, 1, tzinfo=UTC)
    print(f"\nCPU with a trusted feed date (ms/page, {rounds} rounds, interleaved):")
    print(
        f"{'set':<8} {'pages':>5} {'no meta':>7} {'date before':>11} {'date now':>8} "
        f"{'extract now':>11} {'now/before':>10} {'saved':>6} {'htmldate alone':>14}"
    )
    for name, pages in sets.items():
        cpu: Counter[str] = Counter()
        no_meta = 0
        for _ in range(rounds):
            for page in pages:
                entry = FeedEntry("bench", page.key, page.url, "t", "", when)
                tree = load_html(decode_html(page.body, None))
                if tree is None:
                    continue
                json_ld = read_page_meta(tree, page.url).published
                no_meta += stamp_from_meta(tree, json_ld) is None
                started = time.process_time()
                old_step(tree, page.url, json_ld, entry)
                cpu["old"] += time.process_time() - started
                started = time.process_time()
                article_date(tree, page.url, json_ld, entry)
                cpu["new"] += time.process_time() - started
                started = time.process_time()
                extract_article(page.body, url=page.url, entry=entry)
                cpu["extract"] += time.process_time() - started
                started = time.process_time()
                stamp_from_htmldate(tree, page.url)  # what a page without metadata costs
                cpu["htmldate"] += time.process_time() - started
        n = len(pages) * rounds
        before = cpu["extract"] - cpu["new"] + cpu["old"]  # extraction with the old date step
        print(
            f"{name:<8} {len(pages):>5} {no_meta // rounds:>7} {cpu['old'] / n * 1000:>11.2f} "
            f"{cpu['new'] / n * 1000:>8.2f} {cpu['extract'] / n * 1000:>11.2f} "
            f"{cpu['extract'] / before:>10.3f} {1 - cpu['extract'] / before:>6.1%} "
            f"{cpu['htmldate'] / n * 1000:>14.2f}"
        )
    print(
        "(no meta: pages whose metadata states no date, where htmldate searched the page; "
        "now/before: extraction CPU with article_date / with the page searched; htmldate "
        "alone: its search on every page, the most a page without metadata could cost)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a git revision whose extractors/dates.py to compare")
    parser.add_argument("--losses", action="store_true", help="list the pages we lose")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the CPU section")
    args = parser.parse_args()
    baseline = baseline_module(args.baseline) if args.baseline else None
    base = f" and {args.baseline}'s" if args.baseline else ""
    print(f"# bench/dates - same-day accuracy in the page's own offset: ours{base} vs peers")
    # first, while htmldate's caches (of date strings) hold nothing of these pages yet
    cpu_section({"fundus": fundus_pages(), "aeb": aeb_pages()}, baseline, args.rounds)
    pages = dated_pages()
    found, ours = [], []
    for page in pages:
        days, detail = days_of(page, baseline)
        found.append(days)
        ours.append(detail)
    print("\nSame-day accuracy, the truth's own offset (ours: the stored instant + offset):")
    accuracy_table(pages, found)
    if args.losses:
        losses(pages, found, ours)
    print("\nOurs, each method on its own (Fundus; day = local day, exact = within 60 s):")
    methods_table(pages)
    command = COMMAND + (f" --baseline {args.baseline}" if args.baseline else "")
    print(f"\nreproduce: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
