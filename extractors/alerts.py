"""Alert rules and channels (seeds/alerts.toml) and the alerts one batch raises. Pure.

An alert is keyed by (rule, story, channel): ``alert_id`` is a hash of the three, so a re-run,
a syndicated copy of a known story or a crash-and-retry cannot make a second alert for one
story; the warehouse inserts them with ON CONFLICT DO NOTHING in the load's transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from newswatch.core.errors import ConfigError
from newswatch.core.records import AlertRecord, ArticleRecord, MentionRecord
from newswatch.extractors.toml_lines import TomlLines, read_toml

RULE_KINDS = frozenset({"new_story", "first_seen", "feed_health"})
DELIVERIES = frozenset({"immediate", "digest"})
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SNIPPET_CHARS = 280


@dataclass(frozen=True)
class Channel:
    name: str
    url: str | None = None  # non-secret target: console://, file://PATH
    url_env: str | None = None  # environment variable holding a secret URL
    secret_env: str | None = None  # environment variable holding a webhook signing key

    def resolve(self, env: Mapping[str, str]) -> str | None:
        """The target URL, or None when its environment variable is unset."""
        return self.url or (env.get(self.url_env) if self.url_env else None) or None


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    channels: tuple[str, ...]
    delivery: str = "immediate"
    entities: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    min_relevance: float = 0.0
    on_topic_only: bool = True


@dataclass(frozen=True)
class AlertConfig:
    channels: tuple[Channel, ...]
    rules: tuple[Rule, ...]

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.name == name)

    def with_extra_channels(self, urls: Sequence[str]) -> AlertConfig:
        """Send every rule's alerts to ``urls`` too (``newswatch run --alerts-to``)."""
        if not urls:
            return self
        extra = tuple(Channel(name=f"cli-{i + 1}", url=url) for i, url in enumerate(urls))
        names = tuple(c.name for c in extra)
        rules = tuple(
            Rule(**{**rule.__dict__, "channels": rule.channels + names}) for rule in self.rules
        )
        return AlertConfig(self.channels + extra, rules)


def load_alert_config(path: Path) -> AlertConfig:
    """Read and validate an alerts file; ConfigError names the file, line and field."""
    data, lines = read_toml(Path(path), "the alerts file")
    channels = tuple(
        _channel(table, _Where(path, lines, "channel", i))
        for i, table in enumerate(_tables(data, "channel", path))
    )
    names = {c.name for c in channels}
    rules = tuple(
        _rule(table, names, _Where(path, lines, "rule", i))
        for i, table in enumerate(_tables(data, "rule", path))
    )
    for kind, listed in (
        ("channel", [c.name for c in channels]),
        ("rule", [r.name for r in rules]),
    ):
        seen: set[str] = set()
        for i, name in enumerate(listed):
            if name in seen:
                raise _Where(path, lines, kind, i).error("name", f"duplicate name {name!r}")
            seen.add(name)
    return AlertConfig(channels, rules)


def story_alerts(
    config: AlertConfig,
    articles: Sequence[ArticleRecord],
    mentions: Sequence[MentionRecord],
    entity_names: Mapping[str, str],
    available_channels: set[str],
    now: datetime,
) -> list[AlertRecord]:
    """``new_story`` alerts: one per (rule, story, channel), from the story's first article."""
    by_article: dict[str, list[MentionRecord]] = {}
    for mention in mentions:
        by_article.setdefault(mention.article_id, []).append(mention)
    alerts: dict[str, AlertRecord] = {}
    for rule in (r for r in config.rules if r.kind == "new_story"):
        for article in sorted(articles, key=lambda a: (a.published_at or now, a.article_id)):
            found = by_article.get(article.article_id, [])
            if not _passes(rule, article, {m.entity_id for m in found}):
                continue
            payload = story_payload(rule, article, found, entity_names)
            for channel in rule.channels:
                if channel in available_channels:
                    story = article.story_id or article.article_id
                    alert = _alert(rule, "new_story", story, channel, now, article, payload)
                    alerts.setdefault(alert.alert_id, alert)
    return list(alerts.values())


def first_seen_alerts(
    config: AlertConfig,
    mentions: Sequence[MentionRecord],
    articles: Sequence[ArticleRecord],
    known_entities: set[str],
    entity_names: Mapping[str, str],
    available_channels: set[str],
    now: datetime,
) -> list[AlertRecord]:
    """``first_seen`` alerts: an entity mentioned for the first time in the warehouse.

    An empty warehouse has no baseline: its first load raises none (every entity would be
    "new"), later loads raise one per entity never mentioned before.
    """
    if not known_entities:
        return []
    by_id = {a.article_id: a for a in articles}
    first: dict[str, MentionRecord] = {}
    for mention in mentions:
        if mention.entity_id not in known_entities and mention.article_id in by_id:
            first.setdefault(mention.entity_id, mention)
    alerts: list[AlertRecord] = []
    for rule in (r for r in config.rules if r.kind == "first_seen"):
        for entity_id, mention in sorted(first.items()):
            if rule.entities and entity_id not in rule.entities:
                continue
            article = by_id[mention.article_id]
            payload = {
                **story_payload(rule, article, [mention], entity_names),
                "entity_id": entity_id,
                "entity": entity_names.get(entity_id, entity_id),
            }
            for channel in (c for c in rule.channels if c in available_channels):
                alerts.append(
                    _alert(
                        rule, "first_seen", f"entity:{entity_id}", channel, now, article, payload
                    )
                )
    return alerts


def story_payload(
    rule: Rule,
    article: ArticleRecord,
    mentions: Sequence[MentionRecord],
    entity_names: Mapping[str, str],
) -> dict[str, Any]:
    ranked = sorted(mentions, key=lambda m: (-m.count, m.first_offset))
    headline = article.title or article.url
    return {
        "rule": rule.name,
        "headline": headline,
        "outlet": article.outlet,
        "published": article.published_at.isoformat() if article.published_at else None,
        "entities": [entity_names.get(m.entity_id, m.entity_id) for m in ranked],
        "snippet": _trim(alert_snippet(headline, ranked, article)),
        "link": article.canonical_url or article.url,
        "language": article.language,
        "relevance": round(article.relevance, 3),
        "story_id": article.story_id,
        "article_id": article.article_id,
    }


def alert_snippet(headline: str, ranked: Sequence[MentionRecord], article: ArticleRecord) -> str:
    """What the alert quotes under its headline: the sentence around the top mention that
    is not the headline itself (a page's text often starts with its title, so the top
    mention's sentence can be the title again), else the summary, else the text without a
    leading title."""
    title = _comparable(headline)
    for mention in ranked:
        if mention.snippet and _comparable(mention.snippet) != title:
            return mention.snippet
    if article.summary and _comparable(article.summary) != title:
        return article.summary
    lines = [line for line in (article.text or "").splitlines() if line.strip()]
    body = [line for line in lines if _comparable(line) != title]
    return " ".join(body) if body else ""


def _comparable(text: str) -> str:
    return " ".join(text.split()).casefold().rstrip(".")


def alert_id(rule: str, story_id: str, channel: str) -> str:
    return hashlib.sha1(f"{rule}\x1f{story_id}\x1f{channel}".encode()).hexdigest()


def _alert(
    rule: Rule,
    kind: str,
    story_id: str,
    channel: str,
    now: datetime,
    article: ArticleRecord,
    payload: dict[str, Any],
) -> AlertRecord:
    identifier = alert_id(rule.name, story_id, channel)
    return AlertRecord(
        alert_id=identifier,
        rule=rule.name,
        kind=kind,
        story_id=story_id,
        channel=channel,
        delivery=rule.delivery,
        created_at=now,
        article_id=article.article_id,
        payload_json=json.dumps({**payload, "alert_id": identifier}, ensure_ascii=False),
    )


def _passes(rule: Rule, article: ArticleRecord, entity_ids: set[str]) -> bool:
    return (
        (article.on_topic or not rule.on_topic_only)
        and article.relevance >= rule.min_relevance
        and (not rule.entities or bool(entity_ids & set(rule.entities)))
        and (not rule.outlets or article.source_id in rule.outlets)
        and (not rule.languages or (article.language or "") in rule.languages)
    )


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class _Where:
    path: Path
    lines: TomlLines
    kind: str
    index: int

    def line(self, field: str | None) -> int:
        return self.lines.table_line(self.kind, self.index, field)

    def error(self, field: str | None, message: str) -> ConfigError:
        label = f"{self.kind} #{self.index + 1}" + (f" field '{field}'" if field else "")
        return ConfigError(f"{self.path}:{self.line(field)}: {label}: {message}")


def _tables(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    tables = data.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: '{key}' must be an array of tables ([[{key}]])")
    return tables


def _text(table: dict[str, Any], field: str, where: _Where, required: bool = False) -> str | None:
    value = table.get(field)
    if value is None:
        if required:
            raise where.error(field, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise where.error(field, "must be a non-empty string")
    return value.strip()


def _names(table: dict[str, Any], field: str, where: _Where) -> tuple[str, ...]:
    value = table.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise where.error(field, "must be a list of strings")
    return tuple(value)


def _channel(table: dict[str, Any], where: _Where) -> Channel:
    unknown = set(table) - {"name", "url", "url_env", "secret_env"}
    if unknown:
        raise where.error(sorted(unknown)[0], "unknown field")
    name = _text(table, "name", where, required=True)
    assert name is not None
    if not NAME.match(name):
        raise where.error("name", "use lower-case letters, digits, '-' and '_'")
    url, url_env = _text(table, "url", where), _text(table, "url_env", where)
    if (url is None) == (url_env is None):
        raise where.error("url", "give exactly one of 'url' and 'url_env'")
    if url and not url.startswith(("console://", "file://")):
        raise where.error(
            "url",
            "only console:// and file:// may be written here; put "
            "secret URLs in an environment variable named by 'url_env'",
        )
    return Channel(name, url, url_env, _text(table, "secret_env", where))


def _rule(table: dict[str, Any], channels: set[str], where: _Where) -> Rule:
    known = {"name", "kind", "channels", "delivery", "entities", "outlets", "languages",
             "min_relevance", "on_topic_only"}  # fmt: skip
    unknown = set(table) - known
    if unknown:
        raise where.error(sorted(unknown)[0], "unknown field")
    name = _text(table, "name", where, required=True)
    kind = _text(table, "kind", where, required=True)
    assert name is not None and kind is not None
    if kind not in RULE_KINDS:
        raise where.error("kind", f"must be one of {sorted(RULE_KINDS)}")
    delivery = _text(table, "delivery", where) or "immediate"
    if delivery not in DELIVERIES:
        raise where.error("delivery", f"must be one of {sorted(DELIVERIES)}")
    rule_channels = _names(table, "channels", where)
    if not rule_channels:
        raise where.error("channels", "name at least one channel")
    for channel in rule_channels:
        if channel not in channels:
            raise where.error("channels", f"no [[channel]] named {channel!r}")
    relevance = table.get("min_relevance", 0.0)
    if not isinstance(relevance, int | float) or isinstance(relevance, bool):
        raise where.error("min_relevance", "must be a number")
    on_topic_only = table.get("on_topic_only", True)
    if not isinstance(on_topic_only, bool):
        raise where.error("on_topic_only", "must be true or false")
    return Rule(
        name=name,
        kind=kind,
        channels=rule_channels,
        delivery=delivery,
        entities=_names(table, "entities", where),
        outlets=_names(table, "outlets", where),
        languages=_names(table, "languages", where),
        min_relevance=float(relevance),
        on_topic_only=on_topic_only,
    )


# ------------------------------------------------------------------ messages


def render_alert(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Title and plain-text body of one immediate alert."""
    entities = ", ".join(payload.get("entities") or []) or "-"
    if payload.get("kind") == "feed_health":
        title = str(payload.get("headline", "Feed health"))
    elif payload.get("entity"):
        title = f"First mention of {payload['entity']}: {payload.get('headline', '')}"
    else:
        title = f"New story: {payload.get('headline', '')}"
    body = "\n".join(
        [
            f"{payload.get('outlet', '')} · {(payload.get('published') or '')[:10]}",
            f"Entities: {entities}",
            "",
            str(payload.get("snippet") or ""),
            "",
            str(payload.get("link") or ""),
        ]
    )
    return title[:200], body


def render_digest(payloads: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """One message for many alerts: grouped by story, then an index by entity."""
    stories: dict[str, list[Mapping[str, Any]]] = {}
    for payload in payloads:
        stories.setdefault(str(payload.get("story_id") or payload.get("alert_id")), []).append(
            payload
        )
    by_entity: dict[str, int] = {}
    lines: list[str] = []
    for items in stories.values():
        head = items[0]
        outlets = sorted({str(p.get("outlet", "")) for p in items})
        day = (head.get("published") or "")[:10]
        lines += [
            f"* {head.get('headline', '')}",
            f"  {', '.join(outlets)} · {day} · {head.get('link', '')}",
        ]
        if head.get("entity"):
            lines.append(f"  first mention of {head['entity']}")
        for name in head.get("entities") or []:
            by_entity[name] = by_entity.get(name, 0) + 1
    if by_entity:
        ranked = sorted(by_entity.items(), key=lambda item: (-item[1], item[0]))
        lines += ["", "By entity: " + ", ".join(f"{name} ({n})" for name, n in ranked[:20])]
    title = f"newswatch digest: {len(stories)} new stor{'y' if len(stories) == 1 else 'ies'}"
    return title, "\n".join(lines)
