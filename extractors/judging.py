"""Match-and-group's decisions, pure: each fetched page of a batch is an error page to
fetch again, another URL of an article already known (an alias), or a new article
(matched against the catalogue, in a story).

Two steps around the warehouse's reads, which the caller makes:

1. ``prepare`` works out what each page is on its own — its normalised link, whether it is
   an error page (``page_retry.py``), its MinHash signature and its content identity
   (``identity.py``) — and so which stored rows to read for it (``Prepared``'s
   properties: article ids, body and content hashes, canonical URLs, sources, failed
   links).
2. ``judge_pages`` takes those rows — the stored story signatures, the stored bodies and
   aliases identity compares with, the stored failures of the pages that failed again —
   and returns one ``Judged`` per page, in order. Pages of the batch count as known to
   the pages after them (a second URL of a page met earlier in the run is an alias).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from newswatch.core.records import (
    ArticleAliasRecord,
    ExtractedArticle,
    FeedEntry,
    PageFailureRecord,
    PageFetch,
)
from newswatch.extractors.batch import Judged
from newswatch.extractors.dedup import StoryIndex, signature
from newswatch.extractors.identity import Identity, Seen, StoredBody, copy_of, identity_of
from newswatch.extractors.matcher import Matcher
from newswatch.extractors.page_retry import PageError, next_failure, page_error
from newswatch.extractors.urls import article_id, normalise_url


@dataclass(frozen=True)
class Prepared:
    """The pages of one batch with what each is on its own (one item per page)."""

    entries: tuple[FeedEntry, ...]
    pages: tuple[PageFetch, ...]
    articles: tuple[ExtractedArticle, ...]
    links: tuple[str, ...]  # normalised entry links
    errors: tuple[PageError | None, ...]  # None: an article, not an error page
    signatures: tuple[tuple[int, ...], ...]
    identities: tuple[Identity | None, ...]  # None: an error page or a body too thin

    @property
    def ok(self) -> list[int]:
        """Indexes of the pages that are articles."""
        return [i for i, error in enumerate(self.errors) if error is None]

    @property
    def article_ids(self) -> list[str]:
        return [article_id(self.articles[i].canonical_url) for i in self.ok]

    @property
    def body_hashes(self) -> list[str]:
        return [ident.body_hash for ident in self._identified()]

    @property
    def content_hashes(self) -> list[str]:
        ok = self.ok
        return [self.articles[i].content_hash or "" for i in ok if self.identities[i] is not None]

    @property
    def canonical_urls(self) -> list[str]:
        return [self.articles[i].canonical_url for i in self.ok]

    @property
    def source_ids(self) -> list[str]:
        """The sources of the article pages, sorted, once each."""
        return sorted({self.entries[i].source_id for i in self.ok})

    @property
    def failed_links(self) -> list[str]:
        return [self.links[i] for i, error in enumerate(self.errors) if error is not None]

    def _identified(self) -> list[Identity]:
        return [ident for i in self.ok if (ident := self.identities[i]) is not None]


def prepare(
    entries: Sequence[FeedEntry], pages: Sequence[PageFetch], articles: Sequence[ExtractedArticle]
) -> Prepared:
    """Link, error, signature and identity of every page (the three lists align)."""
    errors = tuple(page_error(p, a) for p, a in zip(pages, articles, strict=True))
    sigs = tuple(signature(a.text) for a in articles)
    return Prepared(
        entries=tuple(entries),
        pages=tuple(pages),
        articles=tuple(articles),
        links=tuple(normalise_url(e.link) for e in entries),
        errors=errors,
        signatures=sigs,
        identities=tuple(
            identity_of(a.text, a.title, a.status, sig, a.content_hash) if err is None else None
            for a, sig, err in zip(articles, sigs, errors, strict=True)
        ),
    )


def judge_pages(
    prepared: Prepared,
    matcher: Matcher,
    now: datetime,
    *,
    story_rows: Iterable[tuple[str, str, tuple[int, ...]]] = (),
    stored: Sequence[StoredBody] = (),
    alias_of_canonical: Mapping[str, str] | None = None,
    previous_failures: Mapping[str, PageFailureRecord] | None = None,
) -> list[Judged]:
    """One ``Judged`` per page: ``failed`` (with its next failure record, counting from
    ``previous_failures``), ``alias`` (same canonical URL as a known article or alias,
    else the same body from the same source: ``identity.copy_of``) or ``new`` (matched,
    its story assigned among ``story_rows`` — (article_id, story_id, signature) of recent
    stored articles — and this batch's earlier pages)."""
    index = StoryIndex()
    for known_id, story_id, sig in story_rows:
        index.add(known_id, story_id, sig)
    previous = previous_failures or {}
    seen = Seen({s.article_id for s in stored}, dict(alias_of_canonical or {}), list(stored))
    out: list[Judged] = []
    for i, (entry, page, article) in enumerate(
        zip(prepared.entries, prepared.pages, prepared.articles, strict=True)
    ):
        link, sig = prepared.links[i], prepared.signatures[i]
        ident, error = prepared.identities[i], prepared.errors[i]
        base = Judged(entry=entry, page=page, article=article, signature=sig)
        if error is not None:
            failure = next_failure(previous.get(link), entry, link, page, error, now)
            out.append(replace(base, outcome="failed", failure=failure))
            continue
        this_id = article_id(article.canonical_url)
        copy = copy_of(this_id, article.canonical_url, ident, entry.source_id, seen)
        if copy is not None:
            alias = ArticleAliasRecord(
                url=link,
                article_id=copy.article_id,
                source_id=entry.source_id,
                canonical_url=article.canonical_url,
                final_url=page.final_url,
                reason=copy.reason,
                similarity=copy.similarity,
                first_seen_at=now,
            )
            story = copy.story_id or index.story_of(copy.article_id) or copy.article_id
            out.append(
                replace(
                    base, article_id=copy.article_id, story_id=story, outcome="alias", alias=alias
                )
            )
            continue
        story_id = index.assign(this_id, sig)
        body_hash = ident.body_hash if ident else None
        content = ident.content_hash if ident else None
        seen.add(
            StoredBody(this_id, entry.source_id, story_id, article.title, body_hash, content, sig)
        )
        out.append(
            replace(
                base,
                match=matcher.match(article.text, title=article.title),
                article_id=this_id,
                story_id=story_id,
                body_hash=body_hash,
            )
        )
    return out


__all__ = ["Prepared", "judge_pages", "prepare"]
