"""Extraction quality and speed on the corpus, ours beside the peers, in one run.

    python bench/extract/run.py            # everything (~2-3 minutes on 2 cores)
    python bench/extract/run.py --quick    # speed section only

Sections: body F1 on the ScrapingHub benchmark pages (their metric), on Fundus, and
trafilatura's snippet evaluation on its pages; date and title on Fundus; story-grouping
precision/recall with a threshold sweep; pages/s on 1 and 2 processes against bare
trafilatura on 1, peak RSS. Beside ours and the bare peers, "ours before" is the body choice
this project made before issue 19 (precision text, fallback chain under 250 characters),
run in the same process.
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
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import trafilatura  # noqa: E402
from corpus import Page, aeb_pages, fundus_pages, trafilatura_pages  # noqa: E402
from dedupset import build_set, group, pair_scores  # noqa: E402
from metric import page_counts, precision_recall_f1, snippet_counts, snippet_scores  # noqa: E402

from newswatch.core.records import ExtractedArticle, PageFetch  # noqa: E402
from newswatch.extractors import body_choice  # noqa: E402
from newswatch.extractors import pages as extraction  # noqa: E402
from newswatch.extractors.dedup import STORY_THRESHOLD, StoryIndex, signature  # noqa: E402
from newswatch.extractors.pages import decode_html, readability_text  # noqa: E402
from newswatch.extractors.pool import extract_many  # noqa: E402

FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
BEFORE = "ours before (floor 250)"
PEERS = (
    BEFORE,
    "trafilatura default",
    "trafilatura precision",
    "trafilatura recall",
    "readability-lxml",
)
PEER_WORKERS = 2
SPEED_BLOCK = 100  # pages per turn in the speed section


# ---------------------------------------------------------------- extraction runs


def fetches(pages: Sequence[Page]) -> list[tuple[PageFetch, None]]:
    return [
        (PageFetch(p.url, FETCHED_AT, "ok", body=p.body, content_type="text/html"), None)
        for p in pages
    ]


def peer_text(job: tuple[str, bytes, str]) -> str:
    name, body, url = job
    html = decode_html(body)
    if name == BEFORE:
        return before_text(html, url)
    if name == "readability-lxml":
        tree = trafilatura.utils.load_html(html)
        return readability_text(tree, None) if tree is not None else ""
    options = {
        "trafilatura default": {},
        "trafilatura precision": {"favor_precision": True},
        "trafilatura recall": {"favor_recall": True},
    }[name]
    return trafilatura.extract(html, include_comments=False, **options) or ""


def before_text(html: str, url: str) -> str:
    """The body as chosen before issue 19: the precision text (fast, then full under 1,000
    characters); under 250 characters, unless the page looks paywalled, trafilatura
    favor_recall then readability-lxml, the first reaching 250 characters, else the longest."""
    tree = trafilatura.utils.load_html(html)
    if tree is None:
        return ""
    first = extraction.extract_text(tree, url).text
    meta = extraction.read_page_meta(tree, url)
    if len(first) >= extraction.MIN_TEXT_CHARS or extraction._paywall_reason(first, meta, tree):
        return first
    best = first
    for extractor in (before_recall, extraction.readability_text):
        text = extraction._clean_text(extractor(tree, url))
        if len(text) >= extraction.MIN_TEXT_CHARS:
            return text
        best = max(best, text, key=len)
    return best


def body_text(page: Page, asked: list[bool]) -> str:
    """Our body choice alone (decode, parse, metadata for the paywall check, body), the same
    steps as ``before_text``."""
    tree = trafilatura.utils.load_html(decode_html(page.body))
    if tree is None:
        return ""
    first = extraction.extract_text(tree, page.url)
    meta = extraction.read_page_meta(tree, page.url)
    if extraction._paywall_reason(first.text, meta, tree):
        return first.text
    paragraphs = extraction.paragraphs(tree)
    reason = body_choice.second_opinion_reason(first.text, paragraphs, extraction.MIN_TEXT_CHARS)
    asked.append(reason is not None)
    return extraction.choose_body(tree, page.url, first).text


def before_recall(tree: extraction.HtmlElement, url: str | None) -> str:
    document = trafilatura.bare_extraction(
        tree, url=url, favor_recall=True, include_comments=False, with_metadata=False
    )
    return document.text if isinstance(document, extraction.Document) and document.text else ""


def peer_outputs(pages: Sequence[Page]) -> dict[str, list[str]]:
    with ProcessPoolExecutor(PEER_WORKERS) as pool:
        return {
            name: list(pool.map(peer_text, [(name, p.body, p.url) for p in pages], chunksize=4))
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


def print_snippet_table(title: str, pages: Sequence[Page], outputs: dict[str, list[str]]) -> None:
    wanted = sum(len(p.must_have) for p in pages)
    unwanted = sum(len(p.must_not) for p in pages)
    print(
        f"\n## {title} ({len(pages)} pages, {wanted} snippets wanted, {unwanted} unwanted): "
        "trafilatura's evaluation"
    )
    print(f"{'extractor':<24} {'precision':>9} {'recall':>7} {'F1':>7} {'accuracy':>8}")
    for name, texts in outputs.items():
        counts = [
            snippet_counts(p.must_have, p.must_not, t) for p, t in zip(pages, texts, strict=True)
        ]
        precision, recall, f1, accuracy = snippet_scores(counts)
        print(f"{name:<24} {precision:9.4f} {recall:7.4f} {f1:7.4f} {accuracy:8.4f}")


def print_outcomes(ours: Sequence[ExtractedArticle]) -> None:
    statuses = dict(Counter(a.status for a in ours))
    print(f"ours: status {statuses}, method {dict(Counter(a.method for a in ours))}")


# ---------------------------------------------------------------- dates and titles


def truth_day(value: str | None) -> str | None:
    """The ground truth's calendar day in its own offset (the page's local day)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        return value[:10]


def local_day(article: ExtractedArticle) -> str | None:
    """Our date's day in the offset the page declared (in UTC when it declared none)."""
    if article.published_at is None:
        return None
    offset = timezone(timedelta(minutes=article.published_offset_minutes or 0))
    return article.published_at.astimezone(offset).date().isoformat()


def date_and_title(pages: Sequence[Page], ours: Sequence[ExtractedArticle]) -> None:
    dated = [(p, a) for p, a in zip(pages, ours, strict=True) if p.truth_date]
    right_day = sum(1 for p, a in dated if local_day(a) == truth_day(p.truth_date))
    methods = Counter(a.date_method for a in ours)
    titled = [(p, a) for p, a in zip(pages, ours, strict=True) if p.truth_title]
    exact = sum(1 for p, a in titled if a.title == p.truth_title)
    loose = sum(1 for p, a in titled if _loose(a.title) == _loose(p.truth_title))
    print(f"\n## Fundus dates and titles ({len(pages)} pages)")
    accuracy = right_day / len(dated)
    print(
        f"date accuracy (same calendar day, in the page's own offset): "
        f"{right_day}/{len(dated)} = {accuracy:.3f}"
    )
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
    asked: list[bool] = []
    runs: dict[str, Callable[[Sequence[Page]], object]] = {
        "bare trafilatura.extract, 1 core": lambda block: [
            trafilatura.extract(p.body) for p in block
        ],
        "ours extract_many workers=1": lambda block: extract_many(fetches(block), 1),
        "ours extract_many workers=2": lambda block: extract_many(fetches(block), 2),
        "body only, before (floor 250)": lambda block: [
            before_text(decode_html(p.body), p.url) for p in block
        ],
        "body only, ours (body_choice)": lambda block: [body_text(p, asked) for p in block],
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
    before_cpu, after_cpu = (cpu[label] for label in list(runs)[-2:])
    print(
        f"body choice: CPU per page x{after_cpu / before_cpu:.2f} of the choice before issue 19 "
        f"(same run, 1 core); the other extractors were asked on {sum(asked)} of {len(asked)} "
        "page extractions"
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
    aeb, fundus, evaluation = aeb_pages(), fundus_pages(), trafilatura_pages()
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
        if evaluation:
            ours_evaluation = extract_many(fetches(evaluation), 2)
            print_snippet_table(
                "trafilatura evaluation pages",
                evaluation,
                {"ours (extract_article)": [a.text for a in ours_evaluation]}
                | peer_outputs(evaluation),
            )
            print_outcomes(ours_evaluation)
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
