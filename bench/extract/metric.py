"""The article-extraction-benchmark metric, re-implemented from its README and evaluate.py.

Tokens are ``\\w+`` matches; shingles are 4-token n-grams counted as a multiset. Per page,
true/false positives and false negatives are normalised to sum to 1 (so long pages do not
weigh more); precision and recall are averaged over pages (a page counts for precision only
when something was predicted or expected, etc.) and F1 is their harmonic mean.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence

NGRAM = 4
_TOKEN = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)

Counts = tuple[float, float, float]
Counts4 = tuple[int, int, int, int]  # tp, fn, fp, tn


def shingles(text: str, n: int = NGRAM) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    grams = (tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))
    return Counter(gram for gram in grams if gram)


def page_counts(true: str, predicted: str) -> Counts:
    expected, got = shingles(true), shingles(predicted)
    tp = fp = fn = 0.0
    for key in expected.keys() | got.keys():
        want, have = expected.get(key, 0), got.get(key, 0)
        tp += min(want, have)
        fp += max(0, have - want)
        fn += max(0, want - have)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (tp, fp, fn)


def precision_recall_f1(pages: Sequence[Counts]) -> tuple[float, float, float]:
    precision = statistics.mean(_precision(*c) for c in pages if c[0] + c[1] > 0)
    recall = statistics.mean(_recall(*c) for c in pages if c[0] + c[2] > 0)
    return precision, recall, 2 * precision * recall / (precision + recall)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


def snippet_counts(must_have: Sequence[str], must_not: Sequence[str], text: str) -> Counts4:
    """trafilatura's evaluation (tests/comparison.py): a wanted snippet found is a true
    positive, missed a false negative; an unwanted one found a false positive, else a true
    negative."""
    tp = sum(1 for snippet in must_have if snippet in text)
    fp = sum(1 for snippet in must_not if snippet in text)
    return tp, len(must_have) - tp, fp, len(must_not) - fp


def snippet_scores(pages: Sequence[Counts4]) -> tuple[float, float, float, float]:
    """Precision, recall, F1 and accuracy over the summed counts of all pages."""
    tp, fn, fp, tn = (sum(c[i] for c in pages) for i in range(4))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = (tp + tn) / (tp + tn + fp + fn) if tp + tn + fp + fn else 0.0
    return precision, recall, f1, accuracy
