"""Content identity: is a page at a new URL an article we already stored?

An article is identified by its URL *and* by its body. The same body from the same outlet
(source id) at another URL — the outlet moved host, went http→https, changed its URL
scheme, or the sample was served on another port — is an alias of the stored article,
never a second row. Copies from *other* outlets (syndication) stay separate articles of
one story (``extractors/dedup.py``).

"Same body" is decided in two steps:

1. **Exact**: ``body_fingerprint`` — sha1 of the text after ``normalize_text`` (case,
   Unicode forms, punctuation and whitespace folded), with paragraphs that are only a
   date/time line ("Updated 12 July 2026, 14:05", "Published: 2026-07-12") dropped. A
   changed dateline, re-wrapped lines or curly quotes do not make a new article.
2. **Near-identical**: the same outlet, the same normalised title and a MinHash
   similarity of at least ``ALIAS_SIMILARITY``. Measured on the corpus
   (``../shared/corpus/articles``, 297 real pages): the one real re-crawl of an article
   (taz, the same piece fetched in 2023 and in 2024, a donation appeal appended and the
   drop cap split off) scores 0.81 with the same title; different articles of one
   publisher (75 pairs across 51 publishers) score at most 0.016. A republication with a
   new headline, or edited beyond that, is stored as a new article: its text and mentions
   are kept, it joins the stored article's story (``STORY_THRESHOLD`` 0.4), and, being in
   a known story, raises no new-story alert.

Only bodies worth identifying take part: status ``ok`` with at least
``MIN_IDENTITY_WORDS`` words (a paywall teaser or a feed summary is not an identity).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from newswatch.extractors.dedup import similarity
from newswatch.extractors.normalize import normalize_text

ALIAS_SIMILARITY = 0.7
MIN_IDENTITY_WORDS = 40
MAX_DATELINE_WORDS = 12

_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|"
    "june|july|august|september|october|november|december|januar|februar|märz|mai|juni|"
    "juli|oktober|dezember|janvier|février|mars|avril|juin|juillet|août|septembre|"
    "octobre|novembre|décembre|января|февраля|марта|апреля|мая|июня|июля|августа|"
    "сентября|октября|ноября|декабря|січня|лютого|березня|квітня|травня|червня|липня|"
    "серпня|вересня|жовтня|листопада|грудня"
)
_DATE = re.compile(
    rf"\b\d{{1,4}}[-./]\d{{1,2}}[-./]\d{{1,4}}\b"  # 2026-07-12, 12.07.2026, 7/12/26
    rf"|\b\d{{1,2}}:\d{{2}}\b"  # 14:05
    rf"|\b(?:{_MONTHS})\.?\s+\d{{1,2}}\b"  # July 12
    rf"|\b\d{{1,2}}\.?\s+(?:{_MONTHS})\b",  # 12 July, 12. Juli
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
_DATELINE_WORDS = re.compile(
    r"\b(?:updated|published|posted|last (?:updated|modified)|modified|aktualisiert|"
    r"veröffentlicht|stand|mis à jour|publié|обновлено|опубликовано|оновлено)\b",
    re.IGNORECASE,
)
_FILLER = frozenset(
    (
        "at on am pm a m p utc gmt cet cest est edt pst pdt msk eet eest irst um am der "
        "le à de the of в о "
        "mon tue wed thu fri sat sun monday tuesday wednesday thursday friday saturday sunday "
        + _MONTHS.replace("|", " ")
    ).split()
)


@dataclass(frozen=True)
class StoredBody:
    """What identity needs of an article already stored (or accepted earlier in the run)."""

    article_id: str
    source_id: str
    story_id: str
    title: str | None
    body_hash: str | None = None
    # newswatch.extractors.pages.content_hash (older rows have only it)
    content_hash: str | None = None
    signature: tuple[int, ...] = ()


@dataclass(frozen=True)
class Identity:
    """The identity of one extracted page, if it has one."""

    body_hash: str
    title_key: str
    signature: tuple[int, ...]
    content_hash: str | None = None


@dataclass(frozen=True)
class AliasMatch:
    article_id: str
    story_id: str
    reason: str  # same_body | near_duplicate
    similarity: float


def is_dateline(paragraph: str) -> bool:
    """A short paragraph that only says when the piece was published or updated: once its
    dates, times, month and weekday names and words such as "updated"/"at" are taken out,
    at most one word is left ("Updated at 1:23 p.m.", "Published: 2026-07-12 14:05 UTC";
    not "June 9 -- Coral Sky Amphitheatre, West Palm Beach")."""
    words = _WORD.findall(paragraph)
    if not words or len(words) > MAX_DATELINE_WORDS:
        return False
    dated = _DATE.search(paragraph) is not None or _DATELINE_WORDS.match(paragraph) is not None
    if not dated:
        return False
    rest = _DATELINE_WORDS.sub(" ", _DATE.sub(" ", paragraph))
    left = [w for w in _WORD.findall(rest.casefold()) if not w.isdigit() and w not in _FILLER]
    return len(left) <= 1


def body_fingerprint(text: str) -> str | None:
    """sha1 of the normalised body without its date lines; None for a text with no words."""
    kept = [p for p in text.splitlines() if p.strip() and not is_dateline(p)]
    folded = " ".join(_WORD.findall(normalize_text("\n".join(kept)).text))
    if not folded:
        return None
    return hashlib.sha1(folded.encode("utf-8")).hexdigest()


def title_key(title: str | None) -> str:
    """A title folded for comparison (case, punctuation, spacing); "" for none."""
    return " ".join(_WORD.findall(normalize_text(title or "").text))


def identity_of(
    text: str,
    title: str | None,
    status: str,
    signature: tuple[int, ...],
    content_hash: str | None = None,
) -> Identity | None:
    """The page's identity, or None when its body is not worth identifying."""
    if status != "ok" or len(_WORD.findall(text)) < MIN_IDENTITY_WORDS:
        return None
    fingerprint = body_fingerprint(text)
    if fingerprint is None:
        return None
    return Identity(fingerprint, title_key(title), signature, content_hash)


def find_alias(
    identity: Identity, source_id: str, candidates: list[StoredBody]
) -> AliasMatch | None:
    """The stored article of the same outlet this page is a copy of, or None.

    Exact body matches win over near-duplicates; among near-duplicates the most similar
    wins. Candidates from other outlets are never matched (syndication is a story, not
    an alias).
    """
    best: AliasMatch | None = None
    for stored in candidates:
        if stored.source_id != source_id:
            continue
        same_body = stored.body_hash == identity.body_hash or (
            identity.content_hash is not None and stored.content_hash == identity.content_hash
        )
        if same_body:
            return AliasMatch(stored.article_id, stored.story_id, "same_body", 1.0)
        if title_key(stored.title) != identity.title_key:
            continue
        score = similarity(identity.signature, stored.signature)
        if score >= ALIAS_SIMILARITY and (best is None or score > best.similarity):
            best = AliasMatch(stored.article_id, stored.story_id, "near_duplicate", score)
    return best


@dataclass
class Seen:
    """The articles a page may be a copy of: stored ones, then this run's as they come."""

    article_ids: set[str]
    alias_of_canonical: dict[str, str]  # {canonical URL of a stored alias: its article_id}
    bodies: list[StoredBody]

    def add(self, body: StoredBody) -> None:
        self.article_ids.add(body.article_id)
        if body.body_hash is not None:
            self.bodies.append(body)


def copy_of(
    article_id: str,
    canonical_url: str,
    identity: Identity | None,
    source_id: str,
    seen: Seen,
) -> AliasMatch | None:
    """The known article this page is another URL of, or None for a new article: the same
    canonical URL (an article's or an alias's) from any source, else the same body from
    the same source (``find_alias``)."""
    if article_id in seen.article_ids:
        return AliasMatch(article_id, "", "same_url", 1.0)
    if canonical_url in seen.alias_of_canonical:
        return AliasMatch(seen.alias_of_canonical[canonical_url], "", "same_url", 1.0)
    if identity is None:
        return None
    return find_alias(identity, source_id, seen.bodies)


__all__ = [
    "ALIAS_SIMILARITY",
    "MIN_IDENTITY_WORDS",
    "AliasMatch",
    "Identity",
    "Seen",
    "StoredBody",
    "body_fingerprint",
    "copy_of",
    "find_alias",
    "identity_of",
    "is_dateline",
    "title_key",
]
