"""The body choice on its own: which candidate text wins, and when the others are asked."""

from __future__ import annotations

import pytest

from newswatch.extractors import body_choice
from newswatch.extractors.body_choice import (
    Candidate,
    choose,
    containment,
    second_opinion_reason,
)

MIN = 250


def paragraph(i: int, story: str = "port") -> str:
    """Sentences of one story; the numbers make every 4-word shingle unique."""
    if story == "port":
        return (
            f"Pier {i + 11} saw inspectors count {i * 7 + 3} crates, {i * 13 + 5} containers "
            f"and {i * 3 + 1} trucks on shift {i} of week {i + 20}."
        )
    return (
        f"Match {i} drew {i * 9 + 2} fans to stand {i + 5} and ended {i % 4} to {i % 3} "
        f"after {i + 80} minutes in round {i + 30}."
    )


def text(indices: range, story: str = "port") -> str:
    return "\n".join(paragraph(i, story) for i in indices)


FIRST = Candidate("trafilatura", text(range(3)))


def test_containment_counts_shared_shingles() -> None:
    whole = Candidate("x", text(range(10)))
    assert containment(FIRST, whole) == 1.0
    assert 0.2 < containment(whole, FIRST) < 0.4
    assert containment(Candidate("x", text(range(3), "football")), whole) < 0.5
    assert containment(Candidate("x", ""), whole) == 1.0


def test_a_candidate_holding_the_first_text_and_much_more_wins() -> None:
    whole = Candidate("readability", text(range(8)))
    choice = choose(FIRST, [Candidate("trafilatura_default", FIRST.text), whole], MIN)
    assert choice.candidate is whole
    assert choice.reason and "extends" in choice.reason


def test_a_slightly_longer_candidate_does_not_replace_the_first() -> None:
    # 4 paragraphs against 3: more text, but not the fragment-sized gap the rule is for
    longer = Candidate("trafilatura_default", text(range(4)))
    assert len(longer.text) < body_choice.EXTENDS_RATIO * len(FIRST.text)
    assert choose(FIRST, [longer], MIN) == body_choice.Choice(FIRST, None)


def test_a_longer_candidate_that_is_another_story_does_not_win() -> None:
    other = Candidate("readability", text(range(12), "football"))
    assert choose(FIRST, [other], MIN).candidate is FIRST


def test_a_candidate_padded_with_repeated_notices_does_not_win() -> None:
    notice = "External content is not available because of your privacy settings here."
    padded = Candidate("trafilatura_default", "\n".join([FIRST.text, *[notice] * 12]))
    assert containment(FIRST, padded) == 1.0
    assert len(padded.text) >= body_choice.EXTENDS_RATIO * len(FIRST.text)
    assert choose(FIRST, [padded], MIN).candidate is FIRST


def test_two_candidates_agreeing_outvote_a_first_text_they_do_not_hold() -> None:
    notice = Candidate("trafilatura", "Reprint notice: this copy is for personal use only. " * 6)
    article = text(range(9), "football")
    default = Candidate("trafilatura_default", article)
    readability = Candidate("readability", article + "\n" + paragraph(40, "football"))
    choice = choose(notice, [default, readability], MIN)
    assert choice.candidate is default
    assert choice.reason == "trafilatura_default and readability agree"
    # one candidate alone, not holding the first text, is not enough
    assert choose(notice, [default], MIN).candidate is notice
    # nor do two empty texts agree on anything
    empty = Candidate("trafilatura", "")
    nothing = [Candidate("trafilatura_default", ""), Candidate("readability", "")]
    assert choose(empty, nothing, MIN) == body_choice.Choice(empty, None)


def test_later_candidates_run_only_when_needed() -> None:
    calls: list[str] = []

    def lazy(candidate: Candidate) -> body_choice.CandidateSource:
        def run() -> Candidate:
            calls.append(candidate.method)
            return candidate

        return run

    whole = Candidate("trafilatura_default", text(range(8)))
    costly = Candidate("readability", text(range(9)))
    assert choose(FIRST, [lazy(whole), lazy(costly)], MIN).candidate is whole
    assert calls == ["trafilatura_default"]


def test_a_short_first_text_takes_the_first_candidate_reaching_the_floor() -> None:
    short = Candidate("trafilatura", "A caption of forty-odd characters only.")
    other_story = Candidate("trafilatura_default", text(range(4), "football"))
    assert len(other_story.text) >= MIN
    assert choose(short, [other_story], MIN).candidate is other_story
    tiny = Candidate("readability", "A caption of forty-odd characters only, and more.")
    assert choose(short, [tiny], MIN).candidate is tiny  # the longest, all under the floor
    assert choose(short, [Candidate("readability", "")], MIN).candidate is short


@pytest.mark.parametrize(
    ("paragraphs", "suspicious"),
    [
        ([paragraph(i) for i in range(3)], False),  # every paragraph is in the text
        ([paragraph(i) for i in range(3)] + ["Share", "Advertisement"], False),
        ([paragraph(i) for i in range(6)], True),  # half the article is missing
        ([paragraph(i) for i in range(5)], False),  # 2 of 5 missing: under the share
    ],
)
def test_second_opinion_when_page_paragraphs_are_missing_from_the_text(
    paragraphs: list[str], suspicious: bool
) -> None:
    reason = second_opinion_reason(FIRST.text, paragraphs, MIN)
    assert (reason is not None) is suspicious


def test_second_opinion_for_a_short_text_whatever_the_page() -> None:
    assert second_opinion_reason("Too short.", [], MIN) == "10 characters (< 250)"
    assert second_opinion_reason("", [], MIN) is not None
