"""normalize_text chars/s on 1 MB against 20 MB of the same kinds of text, in one run.

    .venv/bin/python -m bench.normalize.run [--before REV]

Kinds: English prose (ASCII path), the corpus' hand-made article bodies joined (mixed
scripts, ../shared/corpus/articles), Cyrillic prose (suffix stemming), and text dense in
combining marks and compatibility forms (the folding step); plus one word followed by a
long run of combining marks. ``--before REV`` also times extractors/normalize.py as of
that git revision on the same strings. Linear means the 20 MB rate is close to the 1 MB
rate (ratio near 1.0).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from bench.extract.corpus import REPO_ROOT, aeb_pages, fundus_pages
from newswatch.extractors import normalize

KINDS = {
    "english": "The Shahed-136 drones hit Kyiv\u2019s grid  again \u2014 officials said.\n",
    "cyrillic": "Шахеди атакували Київ,  вночі «Герані» летіли над містом.\n\n",
    "marks": "Cafe\u0301 ﬁne ｆｕｌｌ Ｗｉｄｔｈ and Ñandú  x.\n\n",
}


def _old_module(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:extractors/normalize.py"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "normalize_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("normalize_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["normalize_before"] = module
    spec.loader.exec_module(module)
    return module


def _rate(function: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - start)
    return len(text) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="also time normalize.py as of this git revision")
    args = parser.parse_args()
    kinds = dict(KINDS)
    kinds["corpus"] = "\n\n".join(page.truth_text for page in aeb_pages() + fundus_pages())
    versions: dict[str, Callable[[str], object]] = {"now": normalize.normalize_text}
    if args.before:
        versions[f"at {args.before}"] = _old_module(args.before).normalize_text
    for function in versions.values():
        function("Кий\u0301 warm-up")  # builds the folding tables outside the timing
    print(f"{'kind':10} {'version':14} {'1 MB M chars/s':>15} {'20 MB M chars/s':>16} {'ratio':>6}")
    for kind, unit in kinds.items():
        small = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
        large = (unit * (20_000_000 // len(unit) + 1))[:20_000_000]
        for name, function in versions.items():
            one, twenty = _rate(function, small), _rate(function, large)
            print(f"{kind:10} {name:14} {one / 1e6:15.1f} {twenty / 1e6:16.1f} {twenty / one:6.2f}")
    print("\none word + a run of N combining marks (seconds):")
    for name, function in versions.items():
        cells = []
        for marks in (10_000, 40_000):
            start = time.perf_counter()
            function("a" + "\u0301\u0316" * (marks // 2))
            cells.append(f"N={marks}: {time.perf_counter() - start:.3f}")
        print(f"  {name:14} " + "  ".join(cells))


if __name__ == "__main__":
    main()
