"""Text normalisation for entity matching, with a map back to the original offsets.

``normalize_text(text)`` returns a ``NormalizedText`` whose ``text`` is:

- lower-cased; the rare characters NFKC changes (ligatures, fullwidth and presentation
  forms) are NFKC-folded, combining marks composed with their letter or dropped,
- word separators inside names (whitespace, hyphens and dashes, apostrophes, slashes,
  underscores, ZWNJ) turned into a space, every other punctuation mark into ``\x00`` (a
  hard boundary that never sits inside a name), runs of spaces collapsed to one, and a
  blank line made a hard boundary (a name never spans paragraphs),
- Persian/Arabic letter forms unified (ي/ى/ئ → ی, ك → ک, أ/إ/آ → ا, ة → ه), Persian and
  Arabic-Indic digits turned into ASCII digits, harakat and tatweel dropped, the article
  ال stripped,
- Cyrillic words stemmed by an explicit suffix set («шахедів», «шахеди» → «шахед»;
  «Герани», «Герань» → «геран»), so inflected forms meet the catalogue's stems,
- prefixed with one space, so every word starts after a space or ``\x00``.

Aliases go through the same function, so text and catalogue always agree. Speed: pure
ASCII text takes one ``str.translate``, Latin-1 text one ``bytes.translate``; other text is
lower-cased, encoded to UTF-8, its ASCII punctuation mapped by one ``bytes.translate`` and
its non-ASCII punctuation by one bytes regex (each multibyte character becomes one byte,
so character offsets hold). The common curly quotes and dashes are replaced by their ASCII
forms first, so most English text stays on the ASCII path. Only the collapse/stem step and
the rare folding step move offsets; ``to_original`` maps a normalised position back through
their two breakpoint lists.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

SOFT = " "  # separator that may sit inside a name ("Shahed-136", "Hashd al-Sha'bi")
HARD = "\x00"  # punctuation that ends a name ("," "." "(" "«" ...)
BOUNDARIES = frozenset((SOFT, HARD))

_SOFT_ASCII = frozenset(" \t\n\r\x0b\x0c-'/_`")
# A text longer than two chunks is folded chunk by chunk, cut where ``_CHUNK_CUT`` matches
# (see ``_chunks``): the cost per character then depends on the piece, not on the rarest
# character anywhere in the text, and the working strings stay small.
_CHUNK = 1 << 16
_CHUNK_CUT = re.compile(r"[ \n](?=[^\W_])")  # not before "_": a separator (_SOFT_ASCII)
# Combining marks folded with their base letter: at most this many (the Unicode
# stream-safe limit); the rest of a longer run is dropped unseen. NFKC orders a run of
# marks in quadratic time, and every mark in ``_MARK_RANGES`` is dropped after
# composition anyway.
_MAX_MARKS = 30


def _ascii_table() -> bytes:
    """Byte table: ASCII letters lower-cased, separators to SOFT, other ASCII to HARD;
    bytes >= 0x80 (UTF-8 of already folded non-ASCII characters) unchanged."""
    table = bytearray(range(256))
    for code in range(128):
        char = chr(code)
        if char.isalnum():
            table[code] = ord(char.lower())
        elif char in _SOFT_ASCII:
            table[code] = ord(SOFT)
        else:
            table[code] = ord(HARD)
    return bytes(table)


_ASCII_TABLE = _ascii_table()
_ASCII_STR_TABLE = {code: _ASCII_TABLE[code] for code in range(128) if _ASCII_TABLE[code] != code}

# Non-ASCII separators that may sit inside a name: dashes, apostrophes, spaces, ZWNJ.
_SOFT_NON_ASCII = frozenset(
    "\u00a0\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2018\u2019\u201b\u02bc\u02bb\u02bf"
    "\u02be\u2032\u00b4\u02c8\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u200b\u200c\u202f\u205f\u3000\u2028\u2029\u1680\u0085"
)
# Common non-ASCII punctuation replaced by its ASCII counterpart up front (same length),
# so most English text takes the pure-ASCII path.
_COMMON_PUNCT = (
    ("\u2019", "'"),
    ("\u2018", "'"),
    ("\u201c", '"'),
    ("\u201d", '"'),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u2026", "."),
    ("\u00a0", " "),
    ("\u00ab", '"'),
    ("\u00bb", '"'),
    ("\u201e", '"'),
    ("\u201a", '"'),
    ("\u2022", "."),
)
# UTF-8 sequences of non-ASCII punctuation, symbols and spaces: C1 controls and Latin-1
# symbols, General Punctuation to Miscellaneous Symbols (U+2000-U+2BFF), modifier-letter
# apostrophes, Arabic and CJK punctuation, emoji. Each sequence is one character, so
# replacing it with one byte keeps character offsets.
_NON_ASCII_PUNCT = re.compile(
    rb"\xe2[\x80-\xaf][\x80-\xbf]"
    rb"|\xc2[\x80-\xbf]|\xc3[\x97\xb7]"
    rb"|\xca[\xb9-\xbf]|\xcb[\x80-\x8f]"
    rb"|\xd8[\x8c\x9b\x9f]|\xd9[\xaa-\xad]|\xdb\x94"
    rb"|\xe3\x80[\x80-\xbf]|\xe1\x9a\x80"
    rb"|\xf0\x9f[\x80-\xbf][\x80-\xbf]"
)


_PUNCT_LEAD_BYTES = (
    b"\xe2",
    b"\xc2",
    b"\xc3",
    b"\xca",
    b"\xcb",
    b"\xd8",
    b"\xd9",
    b"\xdb",
    b"\xe3",
    b"\xe1",
    b"\xf0",
)


def _punct_replacement(match: re.Match[bytes]) -> bytes:
    return b" " if match.group().decode() in _SOFT_NON_ASCII else b"\x00"


# Arabic-script letter forms and digits: one character each way, offsets unchanged.
_ARABIC_FORMS = {
    "ي": "ی",
    "ى": "ی",
    "ئ": "ی",
    "ك": "ک",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ؤ": "و",
    "ة": "ه",
    **{chr(0x0660 + digit): str(digit) for digit in range(10)},
    **{chr(0x06F0 + digit): str(digit) for digit in range(10)},
}
_ARABIC_TABLE = str.maketrans(_ARABIC_FORMS)
# Marks that are dropped (with NFKC composition first) in the scripts we match: Latin and
# Cyrillic combining diacritics, Arabic harakat; plus soft hyphen, BOM, word joiner, tatweel.
_MARK_RANGES = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06ED),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
_DELETABLE_CHARS = "\u00ad\ufeff\u2060\u0640"
_DELETABLE = re.compile(
    "[" + _DELETABLE_CHARS + "".join(f"{chr(low)}-{chr(high)}" for low, high in _MARK_RANGES) + "]"
)


def _latin1_table() -> bytes:
    """Like the ASCII table, plus Latin-1: letters lower-cased, NBSP and the acute accent
    to SOFT, every other Latin-1 symbol (and C1 control) to HARD."""
    table = bytearray(_ASCII_TABLE)
    for code in range(0x80, 0x100):
        char = chr(code)
        if char.isalpha() and len(char.lower()) == 1 and ord(char.lower()) < 0x100:
            table[code] = ord(char.lower())
        elif char in _SOFT_NON_ASCII:
            table[code] = ord(SOFT)
        else:
            table[code] = ord(HARD)
    return bytes(table)


_LATIN1_TABLE = _latin1_table()


# Latin-1 characters the general path folds by NFKC (ª º µ ¹ ² ³ ¼ ½ ¾) or drops (the
# soft hyphen): a text holding one takes the general path, so that every path gives every
# character the same result (a long text is normalised in pieces, each by its own path).
_NOT_LATIN1_PATH = re.compile(rb"[\xaa\xad\xb2\xb3\xb5\xb9\xba\xbc-\xbe]")


def _encode_latin1(text: str) -> bytes | None:
    """Latin-1 bytes of ``text`` when that fast path applies, else None."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return None if _NOT_LATIN1_PATH.search(raw) else raw


@dataclass(frozen=True)
class _Tables:
    special: re.Pattern[str]  # any character that needs the (rare) folding step
    marks: frozenset[str]  # the combining marks among them


@lru_cache(maxsize=4)
def _shrinking_pattern(cyrillic: bool, arabic: bool) -> re.Pattern[str]:
    parts = [_RUN]
    if cyrillic:
        parts.append(_CYRILLIC_SUFFIX)
    if arabic:
        parts.append(_ARABIC_ARTICLE)
    return re.compile("|".join(parts))


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """Built on first use (~0.2 s): walks the Basic Multilingual Plane once."""
    marks = [code for low, high in _MARK_RANGES for code in range(low, high + 1)]
    singles = [ord(char) for char in _DELETABLE_CHARS]
    for code in range(0x80, 0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        compat = unicodedata.normalize("NFKC", char)
        if (compat != char and any(c.isalnum() for c in compat)) or len(char.lower()) != 1:
            singles.append(code)
    mark_class, single_class = _char_class(marks), _char_class(singles)
    return _Tables(
        special=re.compile(f"[{mark_class}{single_class}]"), marks=frozenset(map(chr, marks))
    )


def _char_class(codes: list[int]) -> str:
    ranges: list[str] = []
    ordered = sorted(set(codes))
    first = previous = ordered[0]
    for code in [*ordered[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        last = "-" + re.escape(chr(previous)) if previous > first else ""
        ranges.append(re.escape(chr(first)) + last)
        first = previous = code
    return "".join(ranges)


# Cyrillic inflection: a suffix after at least three Cyrillic letters, at a word end.
CYRILLIC_SUFFIXES = (
    "иями", "ями", "ами", "ией", "ією", "иях", "иям", "ого", "его", "ому", "ему", "ыми", "ими",
    "ия", "ии", "ию", "ие", "ія", "ії", "ію", "ій", "ей", "ой", "ий", "ый", "ых", "их", "ую",
    "юю", "ая", "яя", "ое", "ее", "ом", "ем", "ам", "ям", "ах", "ях", "ов", "ев", "ів", "їв",
    "ою", "ею", "єю", "ью", "ым", "им",
    "а", "я", "ы", "и", "у", "ю", "е", "о", "і", "ї", "ь", "й",
)  # fmt: skip
_CYR = "а-яёіїєґ"
_RUN = "  +"
_CYRILLIC_SUFFIX = f"(?<=[{_CYR}]{{3}})(?:{'|'.join(CYRILLIC_SUFFIXES)})(?!\\w)"
# The Arabic article, alone or after a proclitic (و ب ف ک, and ل + ال = لل), at a word
# start, before at least two more Arabic letters: الحوثيين, للحوثيين -> حوثیین.
_ARABIC_ARTICLE = "(?<!\\w)(?:[وبفک]?ال|لل)(?=[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]{2})"


@dataclass(frozen=True, eq=False)
class NormalizedText:
    """Normalised text plus what it takes to map a position back to the original."""

    text: str
    # Collapse/stem step: from normalised position _starts[i] on, add _shifts[i] to get
    # the position in the length-preserving folded text (which has one leading space).
    _starts: tuple[int, ...] = ()
    _shifts: tuple[int, ...] = ()
    # Special-character step (rare: combining marks, ligatures, fullwidth forms...): the
    # same kind of breakpoints from folded position to original position.
    _fold_starts: tuple[int, ...] = ()
    _fold_shifts: tuple[int, ...] = ()
    cyrillic: bool = False  # the text holds Cyrillic letters
    arabic: bool = False  # the text holds Arabic-script letters

    def to_original(self, position: int) -> int:
        """Original offset of the character at normalised ``position``."""
        folded = _shifted(position, self._starts, self._shifts) - len(SOFT)
        if folded < 0:
            folded = 0
        if not self._fold_starts:
            return folded
        return _shifted(folded, self._fold_starts, self._fold_shifts)

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the normalised [start, end)."""
        return self.to_original(start), self.to_original(end - 1) + 1


def _shifted(position: int, starts: tuple[int, ...], shifts: tuple[int, ...]) -> int:
    slot = bisect_right(starts, position)
    return position + shifts[slot - 1] if slot else position


def normalize_text(text: str) -> NormalizedText:
    """Normalise ``text`` for matching; see the module docstring for the steps."""
    if len(text) <= 2 * _CHUNK:
        folded, fold_map, cyrillic, arabic = _fold(text)
        return _collapse(SOFT + folded, fold_map, cyrillic, arabic)
    pieces: list[str] = []
    starts: list[int] = []  # collapse breakpoints, as in NormalizedText
    shifts: list[int] = []
    fold_starts: list[int] = []  # special-character breakpoints
    fold_shifts: list[int] = []
    cyrillic = arabic = False
    original = folded_length = 0
    length = 1  # of the normalised text so far, with its one leading space
    for chunk in _chunks(text):
        folded, chunk_fold_map, chunk_cyrillic, chunk_arabic = _fold(chunk)
        piece = _collapse(SOFT + folded, chunk_fold_map, chunk_cyrillic, chunk_arabic)
        # Move the piece's breakpoints to where the piece lands; each piece's last shift
        # is where the next piece's own shifts start from, so none is needed between.
        base = folded_length - length + 1
        starts.extend(map((length - 1).__add__, piece._starts))  # map: no Python frame per item
        shifts.extend(map(base.__add__, piece._shifts))
        base = original - folded_length
        fold_starts.extend(map(folded_length.__add__, piece._fold_starts))
        fold_shifts.extend(map(base.__add__, piece._fold_shifts))
        pieces.append(piece.text[len(SOFT) :])
        original += len(chunk)
        folded_length += len(folded)
        length += len(piece.text) - len(SOFT)
        cyrillic |= chunk_cyrillic
        arabic |= chunk_arabic
    return NormalizedText(
        SOFT + "".join(pieces),
        tuple(starts),
        tuple(shifts),
        tuple(fold_starts),
        tuple(fold_shifts),
        cyrillic=cyrillic,
        arabic=arabic,
    )


def _chunks(text: str) -> Iterator[str]:
    """``text`` in pieces of about ``_CHUNK`` characters, each cut after an ASCII space or
    newline and before a letter or digit (never before "_", which folds to a separator the
    next piece's leading space would swallow): no step looks across such a cut (no
    paragraph break, run of spaces, mark cluster, final-sigma context, Cyrillic suffix or
    Arabic article spans it), so each piece is normalised on its own, by the fastest path
    its own characters allow."""
    start, length = 0, len(text)
    while length - start > 2 * _CHUNK:
        cut = _CHUNK_CUT.search(text, start + _CHUNK, start + 2 * _CHUNK)
        if cut is None:
            break
        yield text[start : cut.end()]
        start = cut.end()
    yield text[start:]


def _fold(text: str) -> tuple[str, tuple[tuple[int, ...], tuple[int, ...]], bool, bool]:
    """The length-preserving folding of ``text`` (after the rare special-character step),
    that step's breakpoints, and whether Cyrillic and Arabic letters occur."""
    fold_map: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
    if "\n\n" in text:  # a paragraph break ends any name: keep it from becoming a run
        text = text.replace("\n\n", "\n\x00")
    if not text.isascii():
        for char, ascii_char in _COMMON_PUNCT:  # the usual quotes and dashes, at C speed
            if char in text:
                text = text.replace(char, ascii_char)
    cyrillic = arabic = False
    if text.isascii():
        folded = text.translate(_ASCII_STR_TABLE)
    elif (latin1 := _encode_latin1(text)) is not None:  # Western European text
        folded = latin1.translate(_LATIN1_TABLE).decode("latin-1")
    else:
        tables = _tables()
        if tables.special.search(text) is not None:  # rare: marks, ligatures, fullwidth...
            text, fold_map = _fold_specials(text, tables)
        raw = text.lower().encode()
        raw = raw.translate(_ASCII_TABLE)
        if any(lead in raw for lead in _PUNCT_LEAD_BYTES):
            raw = _NON_ASCII_PUNCT.sub(_punct_replacement, raw)
        cyrillic = b"\xd0" in raw or b"\xd1" in raw
        arabic = b"\xd8" in raw or b"\xd9" in raw or b"\xdb" in raw
        folded = raw.decode()
        if arabic:
            folded = folded.translate(_ARABIC_TABLE)
        if cyrillic and "ё" in folded:
            folded = folded.replace("ё", "е")
    return folded, fold_map, cyrillic, arabic


def _collapse(
    folded: str,
    fold_map: tuple[tuple[int, ...], tuple[int, ...]],
    cyrillic: bool = False,
    arabic: bool = False,
) -> NormalizedText:
    """Collapse runs of spaces to one, strip Cyrillic suffixes and Arabic articles."""
    if not (cyrillic or arabic or "  " in folded):
        return NormalizedText(folded, (), (), *fold_map, cyrillic=cyrillic, arabic=arabic)
    pattern = _shrinking_pattern(cyrillic, arabic)
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    kept_until = 0
    removed = 0
    for match in pattern.finditer(folded):
        start, end = match.span()
        if folded[start] == SOFT:
            start += 1  # keep one space of the run
        pieces.append(folded[kept_until:start])
        starts.append(start - removed)  # where the next kept character lands
        removed += end - start
        shifts.append(removed)
        kept_until = end
    pieces.append(folded[kept_until:])
    return NormalizedText(
        "".join(pieces), tuple(starts), tuple(shifts), *fold_map, cyrillic=cyrillic, arabic=arabic
    )


def _fold_specials(
    text: str, tables: _Tables
) -> tuple[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Fold the rare special characters (with the base letter before a mark and the marks
    after it); every other character stays where it is."""
    pieces: list[str] = []
    starts: list[int] = []
    shifts: list[int] = []
    kept_until = 0
    out_length = 0
    marks = tables.marks
    for match in tables.special.finditer(text):
        position = match.start()
        if position < kept_until:
            continue  # already folded with the cluster before it
        start = position
        if text[position] in marks and position > kept_until and text[position - 1] not in marks:
            start = position - 1  # the base letter the mark belongs to
        end = position + 1
        while end < len(text) and text[end] in marks:
            end += 1
        pieces.append(text[kept_until:start])
        out_length += start - kept_until
        folded = _fold_cluster(text[start : min(end, start + 1 + _MAX_MARKS)])
        for offset in range(len(folded)):  # each folded character points at the cluster
            starts.append(out_length + offset)
            shifts.append(start - out_length - offset)
        pieces.append(folded)
        out_length += len(folded)
        starts.append(out_length)
        shifts.append(end - out_length)
        kept_until = end
    pieces.append(text[kept_until:])
    return "".join(pieces), (tuple(starts), tuple(shifts))


@lru_cache(maxsize=4096)
def _fold_cluster(cluster: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", cluster).lower())
    return _DELETABLE.sub("", folded)


def normalize_alias(alias: str) -> str:
    """The normalised form of a catalogue alias, without the leading space."""
    return normalize_text(alias.strip()).text.strip(SOFT + HARD)
