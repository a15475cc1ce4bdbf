"""The language of an article's text, beside the one its page declares (issue 18 item 5).

A page's ``lang`` attribute often comes from a site template (``lang="en"`` over Russian
text, a CMS default), so the declared language alone puts articles in the wrong trend.
``article_language(declared, text)`` keeps the declared language when the text agrees (or
is too short to tell) and otherwise returns the language detected from the text with
py3langid (a naive Bayes model over byte n-grams, 97 languages, offline; the detector
trafilatura itself offers). Two guards keep it from overriding a correct declaration:

- a declared language of another script than the text's letters (``en`` over Cyrillic,
  ``ru`` over Hebrew) is always replaced;
- within one script the detection must be confident (normalised probability
  ``>= CONFIDENT``) and the text long enough (``MIN_LETTERS``).

Pure logic: no I/O besides the model file shipped in the package, loaded once on first use.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

MIN_LETTERS = 40  # fewer letters than this: too little text to contradict a declaration
SAMPLE_CHARS = 3000  # the detector reads this many characters from the start of the text
CONFIDENT = 0.9  # normalised probability a same-script override needs

# scripts by the first word of a letter's Unicode name
_SCRIPTS = {"LATIN", "CYRILLIC", "ARABIC", "HEBREW", "GREEK", "CJK", "HANGUL", "HIRAGANA",
            "KATAKANA", "DEVANAGARI", "THAI", "GEORGIAN", "ARMENIAN"}  # fmt: skip
# the script each language is written in (languages of other scripts are left out: their
# declaration is never contradicted by script alone)
LATIN_LANGUAGES = (
    "en de fr tr es it pt nl pl cs sk sl hr ro hu sv da no nb nn fi et lv lt is ga id ms vi "
    "tl sq az uz tk ku ca eu gl af sw lb mt cy"
)
LANGUAGE_SCRIPTS = {
    **dict.fromkeys(LATIN_LANGUAGES.split(), "LATIN"),
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "tg", "mn"), "CYRILLIC"),
    **dict.fromkeys(("fa", "ar", "ur", "ps", "ug"), "ARABIC"),
    **dict.fromkeys(("he", "yi"), "HEBREW"),
    "el": "GREEK",
    "zh": "CJK",
    "ja": "CJK",
    "ko": "HANGUL",
    "hi": "DEVANAGARI",
    "mr": "DEVANAGARI",
    "ne": "DEVANAGARI",
    "th": "THAI",
    "ka": "GEORGIAN",
    "hy": "ARMENIAN",
}

_lock = threading.Lock()
_identifier: Any = None


def _model() -> Any:
    """py3langid's identifier with normalised probabilities, loaded once (~1.5 s)."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def dominant_script(text: str) -> tuple[str | None, int]:
    """The script most letters of ``text`` are written in, and the number of letters."""
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        if char.isascii():
            script = "LATIN"
        else:
            name = unicodedata.name(char, "")
            script = name.split(" ", 1)[0]
            if script in ("HIRAGANA", "KATAKANA"):
                script = "CJK"
        counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None, 0
    best = max(counts, key=counts.__getitem__)
    return (best if best in _SCRIPTS else None), letters


def detect(text: str) -> tuple[str, float] | None:
    """(language code, normalised probability) of ``text``'s first characters, or None
    when it holds fewer than ``MIN_LETTERS`` letters."""
    sample = text[:SAMPLE_CHARS]
    if sum(char.isalpha() for char in sample) < MIN_LETTERS:
        return None
    language, probability = _model().classify(sample)
    return str(language), float(probability)


def article_language(declared: str | None, text: str) -> str | None:
    """The language to store for an article: the declared one unless the text says
    otherwise (another script, or a confident detection of another language)."""
    sample = text[:SAMPLE_CHARS]
    script, letters = dominant_script(sample)
    if letters < MIN_LETTERS:
        return declared
    found = detect(sample)
    if found is None:
        return declared
    detected, probability = found
    if declared is None:
        return detected if probability >= CONFIDENT else None
    if detected == declared or _same_language(declared, detected):
        return declared
    declared_script = LANGUAGE_SCRIPTS.get(declared)
    if declared_script is not None and script is not None and declared_script != script:
        # the declaration cannot be right; the detected language, if of the text's script
        if LANGUAGE_SCRIPTS.get(detected, script) == script:
            return detected
        return declared
    return detected if probability >= CONFIDENT else declared


def _same_language(a: str, b: str) -> bool:
    """Codes py3langid and pages spell differently for one language (nb, nn and no)."""
    return {a, b} in ({"nb", "no"}, {"nn", "no"})
