"""Date accuracy per method on the Fundus pages (../shared/corpus/articles/fundus).

    python -m bench.dates.run            # or: python bench/dates/run.py

Each page is parsed once; then every method runs on its own (page metadata, htmldate on
the page, the URL pattern) and the pipeline's choice (``page_date``: the first that finds
a date), against the page's ground-truth ``publishing_date``. ``fallback`` is what an
undated article gets: our fetch time (here the page's crawl date). Figures per method:
coverage (found / pages with a true date), day accuracy (|found - truth| < 24 h, of the
found), exact (within 60 s, of the found), and how many found dates ``date_flag`` marks.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.extract.corpus import ARTICLES_DIR, Page, fundus_pages
from newswatch.extractors.date_trust import CONFIDENCE_BY_METHOD, date_confidence, date_flag
from newswatch.extractors.dates import (
    date_from_htmldate,
    date_from_meta,
    date_from_url,
    page_date,
    parse_date,
)
from newswatch.extractors.pages import decode_html, load_html, read_page_meta

COMMAND = "python -m bench.dates.run"
DAY = timedelta(hours=24)
EXACT = timedelta(seconds=60)


@dataclass
class Tally:
    pages: int = 0
    found: int = 0
    day: int = 0
    exact: int = 0
    flagged: int = 0

    def row(self, name: str) -> str:
        found = max(self.found, 1)
        return (
            f"{name:<18} {_confidence(name):<7} {self.found:>4}/{self.pages:<4} "
            f"{self.found / max(self.pages, 1):>8.2f} {self.day / found:>8.2f} "
            f"{self.exact / found:>8.2f} {self.flagged:>7}"
        )


def _confidence(name: str) -> str:
    method = name.split()[0]
    return date_confidence(method) if method in CONFIDENCE_BY_METHOD else "-"


def crawl_dates() -> dict[str, datetime]:
    found = {}
    for meta_path in (ARTICLES_DIR / "fundus").glob("*/meta.info"):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        for name, item in meta.items():
            crawled = datetime.fromisoformat(item["crawl_date"]).replace(tzinfo=UTC)
            found[f"{meta_path.parent.name}/{name}"] = crawled
    return found


def found_dates(page: Page, crawled: datetime) -> tuple[dict[str, datetime | None], str | None]:
    """Every method's date for ``page`` (parsed once) and the method the pipeline chooses."""
    found: dict[str, datetime | None] = dict.fromkeys(("page_meta", "htmldate", "chosen"))
    chosen = None
    tree = load_html(decode_html(page.body, None))
    if tree is not None:
        json_ld = read_page_meta(tree, page.url).published
        found["page_meta"] = date_from_meta(tree, json_ld)
        found["htmldate"] = date_from_htmldate(tree, page.url)
        found["chosen"], chosen = page_date(tree, page.url, json_ld)
    found["url"] = date_from_url(page.url)
    found["fallback"] = crawled
    return found, chosen


def main() -> int:
    pages = fundus_pages()
    crawled_at = crawl_dates()
    tallies: dict[str, Tally] = defaultdict(Tally)
    undated = 0
    for page in pages:
        truth = parse_date(page.truth_date, now=datetime(2100, 1, 1, tzinfo=UTC))
        if truth is None:
            undated += 1
            continue
        crawled = crawled_at.get(page.key, truth)
        found, chosen = found_dates(page, crawled)
        for name, value in found.items():
            _count(tallies[name], value, truth, crawled)
        _count(tallies[f"{chosen or 'none'} (chosen)"], found["chosen"], truth, crawled)
    header = (
        f"{'method':<18} {'conf.':<7} {'found':>9} {'coverage':>8} {'day acc':>8} "
        f"{'exact':>8} {'flagged':>7}"
    )
    print(f"Fundus pages: {len(pages)} ({undated} without a true date, left out)\n")
    print("Each method on its own, every page:")
    print(header)
    for name in ("page_meta", "htmldate", "url", "fallback"):
        print(tallies[name].row(name))
    print("\nThe pipeline's choice (page_meta, else htmldate, else url), by the method chosen:")
    print(header)
    for name in sorted(n for n in tallies if n.endswith("(chosen)")):
        print(tallies[name].row(name))
    print(tallies["chosen"].row("all chosen"))
    print(f"\nreproduce: {COMMAND}")
    return 0


def _count(tally: Tally, found: datetime | None, truth: datetime, crawled: datetime) -> None:
    tally.pages += 1
    if found is None:
        return
    tally.found += 1
    tally.day += abs(found - truth) < DAY
    tally.exact += abs(found - truth) <= EXACT
    tally.flagged += date_flag(found, crawled) is not None


if __name__ == "__main__":
    sys.exit(main())
