"""Detected article language (extractors/language.py) on real corpus pages and feeds: a
template's wrong ``lang`` gives way to the text's language, a right one stays."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import feedparser
import pytest

from newswatch.extractors.language import article_language, detect, dominant_script
from newswatch.extractors.pages import extract_article


def _page(corpus_dir: Path, relative: str) -> bytes:
    return gzip.decompress((corpus_dir / "articles" / relative).read_bytes())


def _with_lang(html: bytes, lang: str) -> bytes:
    replaced, count = re.subn(rb'(<html\b[^>]*?\blang=")[^"]*"', rb"\g<1>" + lang.encode() + b'"',
                              html, count=1)  # fmt: skip
    assert count == 1, "the page declares its language on <html>"
    return replaced


@pytest.mark.parametrize(
    ("relative", "language"),
    [
        ("fundus/de/TOnline_2026_01_07.html.gz", "de"),
        ("fundus/fr/LeMonde_2023_09_01.html.gz", "fr"),
        ("fundus/fr/LeFigaro_2024_11_22.html.gz", "fr"),
    ],
)
def test_a_template_lang_en_over_another_language_gives_the_text_language(
    corpus_dir: Path, relative: str, language: str
) -> None:
    html = _page(corpus_dir, relative)
    url = "https://example.invalid/article"
    assert extract_article(html, url=url).language == language  # declared and right: kept
    lied = extract_article(_with_lang(html, "en"), url=url)
    assert lied.text
    assert lied.language == language


def test_russian_and_urdu_feed_text_under_a_latin_declaration(corpus_dir: Path) -> None:
    """Real Cyrillic (windows-1251 Orenburg news) and Perso-Arabic (BBC Urdu) text: a
    declaration of a Latin-script language cannot be right, the script decides."""
    for relative, language in (
        ("feeds/real-world/node-feedparser/iconv.xml", "ru"),
        ("feeds/real-world/miniflux/urdu_UTF8.xml", "ur"),
    ):
        parsed = feedparser.parse((corpus_dir / relative).read_bytes())
        text = "\n\n".join(
            re.sub(r"<[^>]+>", " ", entry.get("summary", "") or entry.get("title", ""))
            for entry in parsed.entries
        )
        assert dominant_script(text)[0] in ("CYRILLIC", "ARABIC")
        assert article_language("en", text) == language, relative
        assert article_language(language, text) == language


def test_short_or_empty_text_keeps_the_declaration() -> None:
    assert article_language("en", "Шахед") == "en"
    assert article_language("de", "") == "de"
    assert article_language(None, "OK") is None
    assert detect("Иран") is None


def test_a_right_declaration_of_a_close_language_is_kept(corpus_dir: Path) -> None:
    """Same script, unsure detection: the page's own word stands (Norwegian pages are
    often detected as Danish on short bodies; the page says no)."""
    html = _page(corpus_dir, "fundus/no/NRK_2024_08_05.html.gz")
    article = extract_article(html, url="https://example.invalid/a")
    assert article.language in ("no", "nb")


def test_the_nine_languages_of_the_topic() -> None:
    """Ukrainian vs Russian, Persian vs Arabic, Hebrew, Turkish, German, French, English:
    paragraphs of the kind the monitor reads (written by us), declared as English."""
    samples = {
        "uk": "Росія знову атакувала Одесу ударними дронами. Повітряні сили повідомили, що "
        "більшість з них збили над морем, але уламки пошкодили будинки та склади у порту.",
        "ru": "Россия снова атаковала Одессу ударными беспилотниками. В Воздушных силах "
        "сообщили, что большинство из них сбили над морем, но обломки повредили склады.",
        "fa": "روسیه بار دیگر با پهپادهای انتحاری به بندر اودسا حمله کرد. نیروی هوایی اوکراین "
        "اعلام کرد که بیشتر آنها بر فراز دریا سرنگون شدند.",
        "ar": "هاجمت روسيا مرة أخرى ميناء أوديسا بطائرات مسيرة انتحارية. وقالت القوات الجوية "
        "الأوكرانية إن معظمها أسقط فوق البحر.",
        "he": "רוסיה תקפה שוב את נמל אודסה ברחפני נפץ. חיל האוויר האוקראיני מסר כי רובם יורטו "
        "מעל הים, אך שברים פגעו במחסנים בנמל.",
        "tr": "Rusya, Odessa limanına yine kamikaze insansız hava araçlarıyla saldırdı. "
        "Ukrayna hava kuvvetleri, bunların çoğunun deniz üzerinde düşürüldüğünü açıkladı.",
        "de": "Russland hat den Hafen von Odessa erneut mit Kamikazedrohnen angegriffen. Die "
        "ukrainische Luftwaffe teilte mit, die meisten seien über dem Meer abgeschossen worden.",
        "fr": "La Russie a de nouveau attaqué le port d'Odessa avec des drones kamikazes. "
        "L'armée de l'air ukrainienne a indiqué que la plupart avaient été abattus en mer.",
    }
    for language, text in samples.items():
        assert article_language("en", text) == language, language
    english = "Russia again attacked the port of Odesa with kamikaze drones, the air force said."
    assert article_language("de", english * 2) == "en"
