"""Loading the corpus article sets with their ground truth (../shared/corpus/articles)."""

from __future__ import annotations

import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("NEWSWATCH_SHARED_DIR", REPO_ROOT.parent / "shared"))
ARTICLES_DIR = SHARED_DIR / "corpus" / "articles"


@dataclass(frozen=True)
class Page:
    key: str
    url: str
    body: bytes
    truth_text: str
    truth_title: str | None = None
    truth_date: str | None = None
    outlet: str | None = None
    # trafilatura's evaluation: snippets the body must contain / must not contain
    must_have: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()


def aeb_pages() -> list[Page]:
    """ScrapingHub article-extraction-benchmark pages with their hand-made article bodies."""
    folder = ARTICLES_DIR / "aeb"
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            key=key,
            url=item.get("url") or f"https://aeb.invalid/{key}",
            body=gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()),
            truth_text=item.get("articleBody") or "",
        )
        for key, item in sorted(truth.items())
    ]


def fundus_pages() -> list[Page]:
    """Fundus pages: a publisher's pages sorted by date match its ground-truth keys in order."""
    pages: list[Page] = []
    for meta_path in sorted((ARTICLES_DIR / "fundus").glob("*/meta.info")):
        country = meta_path.parent
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        for truth_path in sorted(country.glob("*.json")):
            publisher = truth_path.stem
            pattern = re.compile(re.escape(publisher) + r"_\d{4}_\d{2}_\d{2}\.html\.gz")
            files = sorted(p for p in country.glob(f"{publisher}_*") if pattern.fullmatch(p.name))
            truths = list(json.loads(truth_path.read_text(encoding="utf-8")).values())
            if len(files) != len(truths):
                raise ValueError(f"{truth_path}: {len(files)} pages for {len(truths)} keys")
            for path, truth in zip(files, truths, strict=True):
                pages.append(
                    Page(
                        key=f"{country.name}/{path.name}",
                        url=meta[path.name]["url"],
                        body=gzip.decompress(path.read_bytes()),
                        truth_text=_fundus_body(truth.get("body") or {}),
                        truth_title=truth.get("title"),
                        truth_date=truth.get("publishing_date"),
                        outlet=publisher,
                    )
                )
    return pages


def _fundus_body(body: dict) -> str:
    parts = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        parts += list(section.get("headline") or []) + list(section.get("paragraphs") or [])
    return "\n".join(parts)


def trafilatura_pages() -> list[Page]:
    """trafilatura's evaluation pages (snippets in and out of the body), if the corpus has
    them."""
    folder = ARTICLES_DIR / "trafilatura"
    if not (folder / "truth.json").exists():
        return []
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            key=key,
            url=item["url"],
            body=gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()),
            truth_text="",
            truth_title=item.get("title"),
            truth_date=item.get("date"),
            must_have=tuple(item.get("with") or ()),
            must_not=tuple(item.get("without") or ()),
        )
        for key, item in sorted(truth.items())
    ]
