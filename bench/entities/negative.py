"""Negative stream: every real article page under ../shared/corpus/articles through the
full path an ingest run takes (``extractors.pages.extract_article``, then the matcher's
verdict on the extracted text and title). None of these pages is about Russia-Iran
military cooperation, so every on-topic verdict is a false alarm; each is listed with
its rule and the mentions that made it.

    python bench/entities/negative.py            # count per 1,000 pages + each on-topic page
    python bench/entities/negative.py --check    # exit 1 above --max-per-1000 (default 1)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from newswatch.extractors.entities import load_catalogue  # noqa: E402
from newswatch.extractors.matcher import Matcher  # noqa: E402
from newswatch.extractors.pages import extract_article  # noqa: E402

SHARED = Path(os.environ.get("NEWSWATCH_SHARED_DIR", REPO.parent / "shared"))
COMMAND = "python bench/entities/negative.py"


def pages(root: Path) -> Iterator[tuple[Path, str]]:
    """(gzipped HTML file, its URL) for every article page of the corpus."""
    urls: dict[str, str] = {}
    aeb = root / "aeb/ground-truth.json"
    if aeb.is_file():
        for key, item in json.loads(aeb.read_text()).items():
            urls[f"{key}.html.gz"] = item.get("url", "")
    trafilatura = root / "trafilatura/truth.json"
    if trafilatura.is_file():
        for key, item in json.loads(trafilatura.read_text()).items():
            urls[f"{key}.html.gz"] = item.get("url", "")
    for info in root.glob("fundus/*/meta.info"):
        for name, item in json.loads(info.read_text()).items():
            urls[name] = item.get("url", "")
    for path in sorted(root.rglob("*.html.gz")):
        yield path, urls.get(path.name) or f"https://corpus.invalid/{path.name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail above --max-per-1000")
    parser.add_argument("--max-per-1000", type=float, default=1.0)
    args = parser.parse_args(argv)
    matcher = Matcher(load_catalogue())
    root = SHARED / "corpus/articles"
    total = extracted = 0
    flagged = []
    for path, url in pages(root):
        total += 1
        article = extract_article(gzip.decompress(path.read_bytes()), url=url)
        if not article.text:
            continue
        extracted += 1
        result = matcher.match(article.text, title=article.title)
        if result.on_topic:
            flagged.append((path.relative_to(root), url, result))
    rate = 1000 * len(flagged) / total if total else 0.0
    print(
        f"negative stream: {total} pages ({extracted} with text) under {root}; "
        f"on-topic {len(flagged)} = {rate:.2f} per 1,000 pages"
    )
    for relative, url, result in flagged:
        names = ", ".join(f"{m.entity_id}({m.alias})" for m in result.mentions)
        print(f"  ON TOPIC {relative} {url}\n    rule {result.rule}: {names}")
    print(f"reproduce: {COMMAND}")
    return 1 if args.check and rate > args.max_per_1000 else 0


if __name__ == "__main__":
    sys.exit(main())
