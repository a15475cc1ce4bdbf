"""Re-apply a catalogue to stored article text and describe what changed (pure).

The warehouse supplies stored articles and their current mentions; this module matches
them again and returns the new rows plus a diff: article-entity pairs added and removed
per entity, and articles that flipped on or off topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from newswatch.core.records import MentionRecord
from newswatch.extractors.matcher import Matcher


@dataclass(frozen=True)
class StoredArticle:
    article_id: str
    title: str | None
    text: str
    on_topic: bool
    entity_ids: frozenset[str]  # entities its stored mentions name


@dataclass(frozen=True)
class Verdict:
    article_id: str
    relevance: float
    on_topic: bool
    rule: str | None


@dataclass
class RematchResult:
    verdicts: list[Verdict] = field(default_factory=list)
    mentions: list[MentionRecord] = field(default_factory=list)
    added: Counter[str] = field(default_factory=Counter)  # entity -> articles gaining it
    removed: Counter[str] = field(default_factory=Counter)  # entity -> articles losing it
    now_on_topic: list[str] = field(default_factory=list)  # article ids
    now_off_topic: list[str] = field(default_factory=list)
    articles: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.now_on_topic or self.now_off_topic)

    def summary(self) -> dict[str, object]:
        return {
            "articles": self.articles,
            "mentions": len(self.mentions),
            "added": dict(sorted(self.added.items())),
            "removed": dict(sorted(self.removed.items())),
            "now_on_topic": len(self.now_on_topic),
            "now_off_topic": len(self.now_off_topic),
        }


def rematch_batch(
    articles: Iterable[StoredArticle], matcher: Matcher, into: RematchResult
) -> RematchResult:
    """Match each article again, appending rows and diff counts to ``into``."""
    for article in articles:
        result = matcher.match(article.text, title=article.title)
        into.articles += 1
        into.verdicts.append(
            Verdict(article.article_id, result.relevance, result.on_topic, result.rule)
        )
        into.mentions.extend(
            MentionRecord(
                article.article_id, m.entity_id, m.count, m.first_offset, m.snippet, m.alias
            )
            for m in result.mentions
        )
        now = {m.entity_id for m in result.mentions}
        into.added.update(now - article.entity_ids)
        into.removed.update(article.entity_ids - now)
        if result.on_topic and not article.on_topic:
            into.now_on_topic.append(article.article_id)
        elif article.on_topic and not result.on_topic:
            into.now_off_topic.append(article.article_id)
    return into


def entity_names(matcher: Matcher) -> Mapping[str, str]:
    return {entity.id: entity.name for entity in matcher.catalogue.entities}
