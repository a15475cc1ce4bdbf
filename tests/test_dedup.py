"""Near-duplicate story grouping with MinHash signatures."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from newswatch.extractors.dedup import NUM_PERM, STORY_THRESHOLD, StoryIndex, signature, similarity
from newswatch.extractors.pages import extract_article


def corpus_text(corpus_dir: Path, relative: str) -> str:
    body = gzip.decompress((corpus_dir / "articles" / "fundus" / relative).read_bytes())
    return extract_article(body, url="https://example.org/", content_type="text/html").text


@pytest.fixture(scope="module")
def stories(corpus_dir: Path) -> dict[str, str]:
    return {
        "fleet": corpus_text(corpus_dir, "de/TOnline_2026_01_07.html.gz"),
        "jesus": corpus_text(corpus_dir, "de/TOnline_2026_04_15.html.gz"),
        "tanker": corpus_text(corpus_dir, "de/NTV_2025_12_12.html.gz"),
    }


def syndicated(text: str) -> str:
    """A copy on another site: dateline, other credits, one paragraph dropped, edits."""
    paragraphs = text.splitlines()
    kept = [p for i, p in enumerate(paragraphs) if i != len(paragraphs) // 2]
    words = " ".join(kept).split(" ")
    edited = " ".join("geändert" if i % 25 == 24 else w for i, w in enumerate(words))
    return "BERLIN (dpa) - " + edited + "\nMehr Nachrichten: Startseite | Politik | Ausland"


def test_signature_is_stable_sized_and_plain_ints() -> None:
    first = signature("Shahed drones assembled at Alabuga")
    assert first == signature("SHAHED   drones assembled at alabuga!")
    assert len(first) == NUM_PERM
    assert all(type(value) is int and 0 <= value < 2**32 for value in first)


def test_text_without_words_has_empty_signature() -> None:
    assert signature("  ... !!") == ()


def test_syndicated_copies_share_a_story_id(stories: dict[str, str]) -> None:
    index = StoryIndex(STORY_THRESHOLD)
    original = index.assign("a1", signature(stories["fleet"]))
    copy = index.assign("a2", signature(syndicated(stories["fleet"])))
    assert original == "a1"
    assert copy == "a1"


def test_different_stories_of_one_outlet_do_not(stories: dict[str, str]) -> None:
    index = StoryIndex(STORY_THRESHOLD)
    assert index.assign("a1", signature(stories["fleet"])) == "a1"
    assert index.assign("a2", signature(stories["jesus"])) == "a2"
    assert index.assign("a3", signature(stories["tanker"])) == "a3"
    assert similarity(signature(stories["fleet"]), signature(stories["tanker"])) < 0.2


def test_known_articles_from_the_warehouse_are_matched(stories: dict[str, str]) -> None:
    index = StoryIndex(STORY_THRESHOLD)
    index.add("old", "story-7", signature(stories["fleet"]))
    assert index.assign("new", signature(syndicated(stories["fleet"]))) == "story-7"


def test_assigning_twice_is_stable_and_empty_texts_never_group() -> None:
    index = StoryIndex(STORY_THRESHOLD)
    assert index.assign("e1", ()) == "e1"
    assert index.assign("e2", ()) == "e2"
    sig = signature("one two three four five six")
    assert index.assign("x", sig) == "x"
    assert index.assign("x", signature("other words entirely")) == "x"
    assert len(index) == 3


def test_index_grows_past_its_first_block() -> None:
    index = StoryIndex(STORY_THRESHOLD)
    for number in range(200):
        index.assign(f"a{number}", signature(f"story number {number} about topic {number * 7}"))
    assert index.assign("again", signature("story number 150 about topic 1050")) == "a150"


def test_threshold_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="threshold"):
        StoryIndex(0.0)


def _scan(rows: list[tuple[int, ...]], stories: list[str], probe: tuple[int, ...]) -> str | None:
    """What the index answered before LSH: the best of every stored row."""
    scores = [sum(a == b for a, b in zip(row, probe, strict=True)) / NUM_PERM for row in rows]
    best = max(range(len(rows)), key=lambda i: (scores[i], -i))
    return stories[best] if scores[best] >= STORY_THRESHOLD else None


def test_banded_candidates_give_the_scan_s_answer_in_both_tiers() -> None:
    """1,500 rows added in bulk (the sorted tier), then 400 assignments one by one (the
    dict tier): each answer equals a scan of every stored row, while far fewer rows are
    scored."""
    rng = random.Random(5)
    bases = [tuple(rng.getrandbits(32) for _ in range(NUM_PERM)) for _ in range(1500)]
    index = StoryIndex(STORY_THRESHOLD)
    rows: list[tuple[int, ...]] = []
    stories: list[str] = []
    for n, sig in enumerate(bases):
        index.add(f"a{n}", f"s{n}", sig)
        rows.append(sig)
        stories.append(f"s{n}")
    for n in range(400):
        base = rows[rng.randrange(len(rows))]
        kept = rng.choice((0.3, 0.45, 0.6, 0.9))  # below and above the threshold
        probe = tuple(v if rng.random() < kept else rng.getrandbits(32) for v in base)
        expected = _scan(rows, stories, probe)
        assert index.match(probe) == expected, n
        story = index.assign(f"b{n}", probe)
        assert story == (expected or f"b{n}")
        rows.append(probe)
        stories.append(story)
    assert index.candidates_scored < 400 * len(rows) / 50
