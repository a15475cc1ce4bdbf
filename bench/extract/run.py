"""Extraction quality and speed on the corpus, ours beside the peers, in one run.

    python bench/extract/run.py            # everything (~2-3 minutes on 2 cores)
    python bench/extract/run.py --quick    # speed section only

Sections: body F1 on the ScrapingHub benchmark pages (their metric), date and title on
Fundus (plus body F1 there, as a check on pages we never tuned against), story-grouping
precision/recall with a threshold sweep, pages/s on 1 and 2 processes against bare
trafilatura on 1, peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import trafilatura  # noqa: E402
from corpus import Page, aeb_pages, fundus_pages  # noqa: E402
from dedupset import build_set, group, pair_scores  # noqa: E402
from metric import page_counts, precision_recall_f1  # noqa: E402

from newswatch.core.records import ExtractedArticle, PageFetch  # noqa: E402
from newswatch.extractors.dedup import STORY_THRESHOLD, StoryIndex, signature  # noqa: E402
from newswatch.extractors.pages import decode_html, readability_text  # noqa: E402
from newswatch.extractors.pool import extract_many  # noqa: E402

FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
PEERS = ("trafilatura default", "trafilatura precision", "trafilatura recall", "readability-lxml")
PEER_WORKERS = 2
SPEED_BLOCK = 100  # pages per turn in the speed section


# ---------------------------------------------------------------- extraction runs


def fetches(pages: Sequence[Page]) -> list[tuple[PageFetch, None]]:
    return [
        (PageFetch(p.url, FETCHED_AT, "ok", body=p.body, content_type="text/html"), None)
        for p in pages
    ]


def peer_text(job: tuple[str, bytes]) -> str:
    name, body = job
    html = decode_html(body)
    if name == "readability-lxml":
        tree = trafilatura.utils.load_html(html)
        return readability_text(tree, None) if tree is not None else ""
    options = {
        "trafilatura default": {},
        "trafilatura precision": {"favor_precision": True},
        "trafilatura recall": {"favor_recall": True},
    }[name]
    return trafilatura.extract(html, include_comments=False, **options) or ""


def peer_outputs(pages: Sequence[Page]) -> dict[str, list[str]]:
    with ProcessPoolExecutor(PEER_WORKERS) as pool:
        return {
            name: list(pool.map(peer_text, [(name, p.body) for p in pages], chunksize=4))
            for name in PEERS
        }


def body_f1(pages: Sequence[Page], texts: Sequence[str]) -> tuple[float, float, float]:
    return precision_recall_f1(
        [page_counts(p.truth_text, t) for p, t in zip(pages, texts, strict=True)]
    )


def print_f1_table(title: str, pages: Sequence[Page], outputs: dict[str, list[str]]) -> None:
    print(f"\n## {title} ({len(pages)} pages): body F1, token 4-shingles (AEB metric)")
    print(f"{'extractor':<24} {'precision':>9} {'recall':>7} {'F1':>7}")
    for name, texts in outputs.items():
        precision, recall, f1 = body_f1(pages, texts)
        print(f"{name:<24} {precision:9.4f} {recall:7.4f} {f1:7.4f}")


def print_outcomes(ours: Sequence[ExtractedArticle]) -> None:
    statuses = dict(Counter(a.status for a in ours))
    print(f"ours: status {statuses}, method {dict(Counter(a.method for a in ours))}")


# ---------------------------------------------------------------- dates and titles


def truth_days(value: str | None) -> set[str]:
    """The ground truth's calendar day, in its own offset and in UTC."""
    if not value:
        return set()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return {value[:10]}
    days = {moment.date().isoformat()}
    if moment.tzinfo is not None:
        days.add(moment.astimezone(UTC).date().isoformat())
    return days


def date_and_title(pages: Sequence[Page], ours: Sequence[ExtractedArticle]) -> None:
    dated = [(p, a) for p, a in zip(pages, ours, strict=True) if p.truth_date]
    right_day = sum(
        1
        for p, a in dated
        if a.published_at and a.published_at.date().isoformat() in truth_days(p.truth_date)
    )
    methods = Counter(a.date_method for a in ours)
    titled = [(p, a) for p, a in zip(pages, ours, strict=True) if p.truth_title]
    exact = sum(1 for p, a in titled if a.title == p.truth_title)
    loose = sum(1 for p, a in titled if _loose(a.title) == _loose(p.truth_title))
    print(f"\n## Fundus dates and titles ({len(pages)} pages)")
    accuracy = right_day / len(dated)
    print(f"date accuracy (same calendar day): {right_day}/{len(dated)} = {accuracy:.3f}")
    print(f"date methods: {dict(methods)}")
    print(f"title exact match: {exact}/{len(titled)} = {exact / len(titled):.3f}")
    print(f"title match, whitespace-insensitive: {loose}/{len(titled)} = {loose / len(titled):.3f}")


def _loose(title: str | None) -> str:
    return " ".join((title or "").replace("\xad", "").replace("\u200b", "").split())


# ---------------------------------------------------------------- dedup


def dedup_section(
    pages: Sequence[Page], ours: Sequence[ExtractedArticle], readability: list[str]
) -> None:
    # one article crawled twice (same outlet, same ground-truth title) is one story
    bases = [
        (
            p.key,
            f"{p.outlet}: {_loose(p.truth_title)}" if p.truth_title else p.key,
            p.outlet,
            a.text,
            r,
        )
        for p, a, r in zip(pages, ours, readability, strict=True)
    ]
    copies = build_set(bases)
    stories = len({c.story for c in copies})
    print(f"\n## Story grouping: {len(copies)} texts, {stories} stories (5 copies of each page)")
    print("shingle threshold precision  recall     F1  same-outlet merges")
    for words in (3, 5):
        signatures = {c.key: signature(c.text, shingle_words=words) for c in copies}
        for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            labels = group(copies, StoryIndex(threshold), signatures)
            precision, recall, merges = pair_scores(copies, labels)
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            chosen = " <- default" if words == 3 and threshold == STORY_THRESHOLD else ""
            scores = f"{precision:9.4f} {recall:7.4f} {f1:6.3f} {merges:19d}"
            print(f"{words:7d} {threshold:9.1f} {scores}{chosen}")


# ---------------------------------------------------------------- speed


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def speed_section(pages: Sequence[Page], rounds: int) -> None:
    """The machine is shared, so the three runs take turns on blocks of ``SPEED_BLOCK``
    pages: load changes hit all three alike. Rates are over the summed wall time."""
    runs: dict[str, Callable[[Sequence[Page]], object]] = {
        "bare trafilatura.extract, 1 core": lambda block: [
            trafilatura.extract(p.body) for p in block
        ],
        "ours extract_many workers=1": lambda block: extract_many(fetches(block), 1),
        "ours extract_many workers=2": lambda block: extract_many(fetches(block), 2),
    }
    wall: dict[str, float] = dict.fromkeys(runs, 0.0)
    cpu: dict[str, float] = dict.fromkeys(runs, 0.0)
    blocks = [pages[i : i + SPEED_BLOCK] for i in range(0, len(pages), SPEED_BLOCK)]
    for _ in range(rounds):
        for block in blocks:
            for label, run in runs.items():
                cpu_before, started = cpu_seconds(), time.perf_counter()
                run(block)
                wall[label] += time.perf_counter() - started
                cpu[label] += cpu_seconds() - cpu_before
    done = len(pages) * rounds
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n## Speed: {len(pages)} pages x {rounds} rounds, runs taking turns per block")
    print(f"{os.cpu_count()} CPUs, load average {load} (other jobs share the cores)")
    bare_label = next(iter(runs))
    bare_rate, bare_cpu = done / wall[bare_label], cpu[bare_label] / done
    print(f"{'run':<34} {'pages/s':>8} {'x bare 1 core':>13} {'CPU ms/page':>11} {'x bare':>6}")
    for label in runs:
        rate, per_page = done / wall[label], cpu[label] / done
        print(
            f"{label:<34} {rate:8.1f} {rate / bare_rate:13.2f} "
            f"{per_page * 1000:11.1f} {per_page / bare_cpu:6.2f}"
        )


def peak_rss() -> None:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS: this process {own:.0f} MiB, largest worker {children:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="speed section only")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over the pages for speed")
    args = parser.parse_args()
    started = time.perf_counter()
    aeb, fundus = aeb_pages(), fundus_pages()
    print("# bench/extract - reproduce: python bench/extract/run.py")
    if not args.quick:
        ours_aeb = extract_many(fetches(aeb), 2)
        peers_aeb = peer_outputs(aeb)
        print_f1_table(
            "AEB", aeb, {"ours (extract_article)": [a.text for a in ours_aeb], **peers_aeb}
        )
        print_outcomes(ours_aeb)
        ours_fundus = extract_many(fetches(fundus), 2)
        peers_fundus = peer_outputs(fundus)
        print_f1_table(
            "Fundus",
            fundus,
            {"ours (extract_article)": [a.text for a in ours_fundus], **peers_fundus},
        )
        print_outcomes(ours_fundus)
        date_and_title(fundus, ours_fundus)
        dedup_section(
            [*aeb, *fundus],
            [*ours_aeb, *ours_fundus],
            peers_aeb["readability-lxml"] + peers_fundus["readability-lxml"],
        )
    speed_section([*aeb, *fundus], args.rounds)
    peak_rss()
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
