"""normalize_text on long inputs: folded in pieces with the same result as in one go, a
20 MB text normalised correctly, and no quadratic step on a long run of combining marks.
(The chars/s on 1 MB against 20 MB is measured in bench/normalize/run.py, not here.)"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newswatch.extractors import normalize
from newswatch.extractors.normalize import normalize_text

# Pieces that exercise every step: runs of spaces, paragraph breaks, curly quotes, Latin-1
# letters and the Latin-1 characters NFKC folds, marks, ligatures and fullwidth forms,
# Cyrillic suffixes, the Arabic article, Greek final sigma, emoji, soft hyphen, ZWNJ.
PIECES = [
    "a", "Kyiv ", " ", "  ", "\n", "\n\n", "\t", "-", "'", ".", ",", "\u2019", "\u2014",
    "é", "Ñandú ", "µ", "²", "½", "ª", "\u00ad", "\u0301", "\u0316", "e\u0301", "ﬁ", "Ｗ",
    "İ", "Шахеди ", "Герані ", "ёлка ", "الحوثيين ", "للحوثيين ", "ي", "۳", "ΟΔΟΣ ",
    "σ", "😀", "\u200c", "_", "9",
]  # fmt: skip


def _in_one_go(text: str, monkeypatch: pytest.MonkeyPatch) -> normalize.NormalizedText:
    with monkeypatch.context() as patch:
        patch.setattr(normalize, "_CHUNK", 10**12)
        return normalize_text(text)


@settings(max_examples=500, deadline=None)
@example(pieces=["a", "  ", "\n\n", "_", "a"], chunk=3)  # a cut before "_" (fresh clone)
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=120), chunk=st.integers(1, 12))
def test_a_text_folded_in_pieces_equals_the_text_folded_in_one_go(
    pieces: list[str], chunk: int
) -> None:
    text = "".join(pieces)
    with pytest.MonkeyPatch.context() as patch:
        whole = _in_one_go(text, patch)
        patch.setattr(normalize, "_CHUNK", chunk)
        cut = normalize_text(text)
    assert cut.text == whole.text
    assert (cut.cyrillic, cut.arabic) == (whole.cyrillic, whole.arabic)
    for position in range(len(whole.text)):
        assert cut.to_original(position) == whole.to_original(position), position


def test_every_latin1_character_gets_the_same_result_on_every_path() -> None:
    """A long text goes through the fast paths piece by piece: a character must not
    change its result with the script of the text around it."""
    for code in range(0x80, 0x100):
        alone = normalize_text(f"a{chr(code)}a").text  # the Latin-1 path (if it applies)
        beside_cyrillic = normalize_text(f"a{chr(code)}a Ж").text  # the general path
        assert beside_cyrillic.startswith(alone + " "), (hex(code), alone, beside_cyrillic)


BLOCK = (
    "The Shahed-136 drones hit Kyiv\u2019s grid \u2014 again.  Officials said: \u201cno\u201d.\n"
    * 300
    + "Шахеди атакували Київ; «Герані» летіли вночі.\n\n"
    + "Hashd al-Sha\u2019bi and الحوثيين met in Café\u0301 ﬁve, ｆｕｌｌ width.\n"
)


def test_a_20_mb_text_is_normalised_as_its_repeated_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block = _in_one_go(BLOCK, monkeypatch)
    body = block.text[1:]  # without the leading space
    copies = 20_000_000 // len(BLOCK) + 1
    text = BLOCK * copies
    assert len(text) >= 20_000_000

    result = normalize_text(text)

    assert len(result.text) == 1 + copies * len(body)
    assert result.text == " " + body * copies
    assert result.cyrillic and result.arabic
    probes = [1, 2, len(body) // 3, len(body) - 40, len(body)]
    for copy in (0, 1, copies // 2, copies - 1):
        for probe in probes:
            position = copy * len(body) + probe
            expected = copy * len(BLOCK) + block.to_original(probe)
            assert result.to_original(position) == expected, (copy, probe)


def test_a_long_run_of_marks_is_folded_from_a_bounded_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[int] = []
    fold = normalize._fold_cluster

    def recording(cluster: str) -> str:
        seen.append(len(cluster))
        return fold(cluster)

    monkeypatch.setattr(normalize, "_fold_cluster", recording)
    text = "Cafe" + "\u0301\u0316" * 50_000 + " Kyiv Ж"
    result = normalize_text(text)
    assert result.text == " café kyiv ж"
    assert max(seen) <= normalize._MAX_MARKS + 1
    assert result.span_to_original(6, 10) == (text.index("Kyiv"), text.index("Kyiv") + 4)
