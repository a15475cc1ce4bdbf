"""The search query language and the highlighted snippet (pure; no database).

A query is words, ``"quoted phrases"`` and ``prefix*`` words::

    shahed drones              any of the words, ranked by BM25
    "ghost fleet"              the phrase as written: case-insensitive, whole words, any run of
                               whitespace between them (``Ghost  fleet`` and a
                               no-break space match; ``ghost-fleet``, ``ghost fleets`` do not)
    alab*                      a word starting with ``alab`` (``Alabuga``, ``Alabuga's``)

Bare words only rank (BM25 has no phrases and any word may match); every phrase and every
prefix must occur in the title or the text. An unclosed quote runs to the end of the query.
A word is a run of letters and digits in any script, as in the index's tokenizer.

The same phrase/prefix is written twice: as an RE2 pattern for DuckDB's ``regexp_matches``
(the filter, run in SQL over the candidates) and as a Python pattern for the snippet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MIN_PREFIX_CHARS = 2
SNIPPET_CHARS = 220
_BEFORE_MATCH = 70
_QUOTE = '"\u201c\u201d\u201e'
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

# RE2 (DuckDB) and Python spell "a letter or digit" and "whitespace" differently.
_RE2_WORD = r"[\p{L}\p{N}]"
_RE2_NOT_WORD = r"[^\p{L}\p{N}]"
_RE2_SPACE = r"[\s\p{Z}]+"
_PY_WORD = r"[^\W_]"
_PY_SPACE = r"\s+"


@dataclass(frozen=True)
class SearchQuery:
    words: tuple[str, ...] = ()  # ranking only
    phrases: tuple[tuple[str, ...], ...] = ()  # each must occur (its whitespace-split words)
    prefixes: tuple[str, ...] = ()  # each must start a word

    @property
    def required(self) -> bool:
        return bool(self.phrases or self.prefixes)

    def ranking_text(self) -> str:
        """Every word the BM25 ranking should see (phrase words included)."""
        return " ".join([*self.words, *(w for p in self.phrases for w in p)])


class QueryError(ValueError):
    """A query the language cannot run (a prefix too short to expand)."""


def parse_query(text: str, *, strict: bool = False) -> SearchQuery:
    """Split ``text`` into bare words, quoted phrases and ``prefix*`` words. A prefix shorter
    than ``MIN_PREFIX_CHARS`` raises ``QueryError`` when ``strict``, else counts as a word."""
    words: list[str] = []
    phrases: list[tuple[str, ...]] = []
    prefixes: list[str] = []
    parts = re.split(f"[{_QUOTE}]", text)
    for index, part in enumerate(parts):
        if index % 2 == 1:  # inside quotes
            phrase = tuple(part.split())
            if phrase:
                phrases.append(phrase)
            continue
        for word in part.split():
            if word.endswith("*"):
                stem = word.rstrip("*")
                if not stem:
                    continue
                if len(stem) < MIN_PREFIX_CHARS and not strict:
                    words.append(stem)
                elif len(stem) < MIN_PREFIX_CHARS:
                    raise QueryError(
                        f"prefix {word!r} is too short: give at least {MIN_PREFIX_CHARS} "
                        "characters before the *"
                    )
                else:
                    prefixes.append(stem)
            else:
                words.append(word)
    return SearchQuery(tuple(words), tuple(phrases), tuple(prefixes))


def _escape(text: str) -> str:
    """Literal text for both RE2 and Python: ASCII punctuation backslashed, the rest as is."""
    return "".join("\\" + c if c in _PUNCTUATION else c for c in text)


def _is_word_char(c: str) -> bool:
    return c.isalnum()


def _phrase_body(phrase: tuple[str, ...], space: str) -> str:
    return space.join(_escape(w) for w in phrase)


def phrase_re2(phrase: tuple[str, ...]) -> str:
    """RE2 pattern: the phrase, case-insensitive, whole words, any whitespace between."""
    head = f"(^|{_RE2_NOT_WORD})" if _is_word_char(phrase[0][0]) else ""
    tail = f"($|{_RE2_NOT_WORD})" if _is_word_char(phrase[-1][-1]) else ""
    return f"(?i){head}{_phrase_body(phrase, _RE2_SPACE)}{tail}"


def prefix_re2(prefix: str) -> str:
    head = f"(^|{_RE2_NOT_WORD})" if _is_word_char(prefix[0]) else ""
    return f"(?i){head}{_escape(prefix)}"


def _phrase_py(phrase: tuple[str, ...]) -> str:
    head = rf"(?<!{_PY_WORD})" if _is_word_char(phrase[0][0]) else ""
    tail = rf"(?!{_PY_WORD})" if _is_word_char(phrase[-1][-1]) else ""
    return f"{head}{_phrase_body(phrase, _PY_SPACE)}{tail}"


def _word_start_py(start: str) -> str:
    head = rf"(?<!{_PY_WORD})" if _is_word_char(start[0]) else ""
    return f"{head}{_escape(start)}{_PY_WORD}*"


@dataclass(frozen=True)
class Highlighter:
    """What a snippet marks (``marks``) and centres on (``anchor``: the first phrase or prefix
    match, else the first mark)."""

    marks: re.Pattern[str] | None
    anchor: re.Pattern[str] | None


def highlighter(query: SearchQuery, stems: dict[str, str]) -> Highlighter:
    """Marks phrases, prefix words, and words sharing a bare word's stem.

    ``stems`` maps a lower-cased bare word to its index stem (Porter); a word is marked
    from the longest start it shares with its stem (``factory`` → ``factor…``), or as
    itself when that start is under 3 characters.
    """
    required = [_phrase_py(p) for p in query.phrases]
    required += [_word_start_py(p) for p in query.prefixes]
    optional = []
    for word in query.words:
        lowered = word.lower()
        start = _common_start(lowered, stems.get(lowered, lowered))
        start = start if len(start) >= 3 else lowered
        if any(_is_word_char(c) for c in start):
            optional.append(_word_start_py(start))
    return Highlighter(_compile(required + optional), _compile(required))


def _compile(alternatives: list[str]) -> re.Pattern[str] | None:
    if not alternatives:
        return None
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


def _common_start(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


@dataclass(frozen=True)
class Snippet:
    text: str  # whitespace-normalised, "…" where cut
    marks: tuple[tuple[int, int], ...]  # [start, end) spans of ``text`` to highlight

    def bracketed(
        self,
        open_mark: str = "[",
        close_mark: str = "]",
        escape: Callable[[str], str] = str,
    ) -> str:
        """The text with each mark between ``open_mark`` and ``close_mark``; ``escape``
        applies to the text pieces only (rich markup, say)."""
        out, at = [], 0
        for start, end in self.marks:
            out += [escape(self.text[at:start]), open_mark, escape(self.text[start:end])]
            out.append(close_mark)
            at = end
        out.append(escape(self.text[at:]))
        return "".join(out)


def make_snippet(text: str, light: Highlighter, *, chars: int = SNIPPET_CHARS) -> Snippet:
    """About ``chars`` characters of ``text`` (whitespace-normalised) around its anchor, cut
    at spaces, every match inside marked; the text's start when nothing matches."""
    flat = " ".join(text.split())
    matches = [m for m in light.marks.finditer(flat) if m.end() > m.start()] if light.marks else []
    anchor = light.anchor.search(flat) if light.anchor else None
    if anchor is None and matches:
        anchor = matches[0]
    a_start, a_end = (anchor.start(), anchor.end()) if anchor else (0, 0)
    begin = max(0, a_start - _BEFORE_MATCH)
    end = min(len(flat), begin + chars)
    begin = max(0, min(begin, end - chars))
    if begin > 0:
        space = flat.find(" ", begin, a_start)
        begin = space + 1 if space >= 0 else begin
    if end < len(flat):
        space = flat.rfind(" ", a_end, end)
        end = space if space >= 0 else end
    lead = "…" if begin > 0 else ""
    trail = "…" if end < len(flat) else ""
    shift = len(lead) - begin
    marks = tuple(
        (max(m.start(), begin) + shift, min(m.end(), end) + shift)
        for m in matches
        if m.start() < end and m.end() > begin
    )
    return Snippet(lead + flat[begin:end] + trail, marks)
