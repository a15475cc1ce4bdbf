"""Article language: detected (extractors/language.py) vs. declared only, on real pages.

    python bench/entities/language.py

Every Fundus page under ../shared/corpus/articles/fundus (and the two trafilatura pages)
has a known language: its publisher's (``PUBLISHER_LANGUAGE`` below, from the country
folder and, where a country has several, the publisher; checked against the page URLs in
meta.info). Each page goes through ``extract_article`` as an ingest run does; its stored
language is compared with the known one:

- as served: the page's own declaration (``lang``, og:locale, JSON-LD) vs. the stored
  language after detection;
- template lie: the same bytes with the ``<html lang>`` attribute rewritten to a wrong
  language (``en``, or ``ru`` on English pages), the case issue 18 names.

Also prints the detection's CPU cost per page (``article_language`` alone, model loaded).
"""

from __future__ import annotations

import gzip
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from newswatch.extractors import language as language_module  # noqa: E402
from newswatch.extractors.pages import decode_html, extract_article, read_page_meta  # noqa: E402

SHARED = Path(os.environ.get("NEWSWATCH_SHARED_DIR", REPO.parent / "shared"))
COMMAND = "python bench/entities/language.py"

# the language of each country folder; a publisher entry wins over its folder's
FOLDER_LANGUAGE = {
    "at": "de", "au": "en", "ca": "en", "ch": "de", "cn": "zh", "cz": "cs", "de": "de",
    "dk": "da", "es": "es", "fr": "fr", "gl": "da", "id": "id", "isl": "is", "it": "it",
    "kr": "ko", "li": "de", "ls": "en", "lt": "lt", "lu": "de", "mx": "es", "my": "en",
    "na": "en", "no": "no", "pl": "pl", "pt": "pt", "py": "es", "se": "sv", "tw": "en",
    "us": "en", "vn": "vi",
}  # fmt: skip
PUBLISHER_LANGUAGE = {
    "Nieuwsblad": "nl", "PoliticoEu": "en", "Bhaskar": "hi", "TimesOfIndia": "en",
    "DailyNewsTZ": "en", "HabariLeo": "sw",
    # papers in another language than their country's (read on the pages themselves)
    "MallorcaMagazin": "de", "MallorcaZeitung": "de", "Tageszeitung": "de",
    "MexicoNewsDaily": "en", "ThePortugalNews": "en", "Wochenblatt": "de",
}  # fmt: skip
_HTML_LANG = re.compile(rb"(<html\b[^>]*?\blang\s*=\s*)([\"']?)[A-Za-z_-]*\2", re.I)


def known_pages(root: Path) -> Iterator[tuple[Path, str]]:
    """(gzipped page, its known language) for every page with one."""
    for path in sorted((root / "fundus").glob("*/*.html.gz")):
        publisher = path.name.split("_20", 1)[0]
        language = PUBLISHER_LANGUAGE.get(publisher) or FOLDER_LANGUAGE.get(path.parent.name)
        if language:
            yield path, language
    for path in sorted((root / "trafilatura/html").glob("*.html.gz")):
        yield path, "de"


def _same(stored: str | None, known: str) -> bool:
    return stored == known or {stored, known} <= {"no", "nb", "nn"}


def lie(html: bytes, known: str) -> bytes:
    """The page with its ``<html lang>`` set to a wrong language (added when missing)."""
    wrong = b"ru" if known == "en" else b"en"
    replaced, count = _HTML_LANG.subn(lambda m: m.group(1) + b'"' + wrong + b'"', html, 1)
    if count:
        return replaced
    return re.sub(rb"<html\b", b'<html lang="' + wrong + b'"', html, count=1, flags=re.I)


def declared_language(raw: bytes) -> str | None:
    """What the page declares (the stored language before issue 18 item 5)."""
    from trafilatura.utils import load_html

    tree = load_html(decode_html(raw, None))
    return None if tree is None else read_page_meta(tree).language


def main() -> int:
    root = SHARED / "corpus/articles"
    rows = list(known_pages(root))
    language_module._model()  # load once, outside the timings
    declared_ok = detected_ok = lie_declared_ok = lie_detected_ok = 0
    per_language: dict[str, list[int]] = {}
    seconds = 0.0
    wrong: list[str] = []
    empty = 0
    for path, known in rows:
        raw = gzip.decompress(path.read_bytes())
        article = extract_article(raw, url=f"https://corpus.invalid/{path.name}")
        declared = declared_language(raw)
        empty += not article.text
        start = time.process_time()
        stored = language_module.article_language(declared, article.text)
        seconds += time.process_time() - start
        lied = extract_article(lie(raw, known), url=f"https://corpus.invalid/{path.name}")
        counts = per_language.setdefault(known, [0, 0, 0, 0, 0])
        counts[0] += 1
        counts[1] += _same(declared, known)
        counts[2] += _same(stored, known)
        declared_ok += _same(declared, known)
        detected_ok += _same(stored, known)
        if not _same(stored, known) or not _same(lied.language, known):
            wrong.append(f"{path.relative_to(root)}: known {known}, declared {declared}, "
                         f"stored {stored}, under a lie {lied.language}")  # fmt: skip
        lied_declared = declared_language(lie(raw, known))
        lie_declared_ok += _same(lied_declared, known)
        lie_detected_ok += _same(lied.language, known)
        counts[3] += _same(lied_declared, known)
        counts[4] += _same(lied.language, known)
    total = len(rows)
    print(f"{total} corpus pages with a known language under {root}; {empty} without "
          "extracted text (their stored language is the declared one)")  # fmt: skip
    print(f"  as served:     declared only {declared_ok}/{total} = {declared_ok / total:.3f};"
          f" with detection {detected_ok}/{total} = {detected_ok / total:.3f}")  # fmt: skip
    print(f"  template lie:  declared only {lie_declared_ok}/{total} = "
          f"{lie_declared_ok / total:.3f}; with detection {lie_detected_ok}/{total} = "
          f"{lie_detected_ok / total:.3f}")  # fmt: skip
    print("  per language: lang pages  declared  detected  lie-declared  lie-detected")
    for known, (n, a, b, c, d) in sorted(per_language.items()):
        print(f"    {known:>4} {n:>5} {a:>9} {b:>9} {c:>13} {d:>13}")
    print(f"  detection CPU: {1000 * seconds / total:.2f} ms per page (article_language, "
          f"model loaded; {language_module.SAMPLE_CHARS} characters read)")  # fmt: skip
    for line in wrong:
        print(f"  wrong: {line}")
    print(f"reproduce: {COMMAND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
