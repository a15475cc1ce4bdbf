"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) -> feedparser-shaped entries.

feedparser reads XML only. A JSON Feed's items are turned into the dicts feedparser gives
for RSS/Atom items (``id``, ``link``, ``title``, ``summary``, ``published``
and ``published_parsed``, ``authors``, ``tags``), so ``feeds.normalise_entry`` treats
both the same way (absolute links, HTML reduced to text, dates in UTC, identity rules).

A JSON document that is not a JSON Feed (no ``version`` naming jsonfeed.org, no ``items``
list) is reported as such (``JsonFeed.error``); nothing here raises for bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from newswatch.extractors.dates import parse_iso

JSON_MEDIA_TYPES = ("application/feed+json", "application/json")
VERSIONS = {
    "https://jsonfeed.org/version/1": "json1",
    "https://jsonfeed.org/version/1.1": "json11",
}
_OPENS_AN_OBJECT = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*\{")
_OPENS_MARKUP = re.compile(rb"\A(?:\xef\xbb\xbf|\xff\xfe|\xfe\xff)?\s*<")


@dataclass(frozen=True)
class JsonFeed:
    """What one JSON document yielded: a version (None when it is not a JSON Feed)."""

    version: str | None
    title: str
    items: tuple[dict[str, Any], ...] = ()
    items_in_document: int = 0
    language: str | None = None
    error: str | None = None  # why it is not a JSON Feed


def looks_like_json(content: bytes, content_type: str | None) -> bool:
    """True for a body that opens a JSON object, or one served as JSON that is not markup
    (a feed served as ``application/json`` but starting with ``<`` is read as XML)."""
    if _OPENS_AN_OBJECT.match(content[:64]):
        return True
    media = (content_type or "").split(";", 1)[0].strip().lower()
    served_as_json = media in JSON_MEDIA_TYPES or media.endswith("+json")
    return served_as_json and not _OPENS_MARKUP.match(content[:64])


def parse_json_feed(content: bytes, *, max_items: int) -> JsonFeed:
    """Read at most ``max_items`` items of a JSON Feed document."""
    try:
        document = json.loads(content.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        return JsonFeed(None, "", error=f"JSON that does not parse ({type(exc).__name__}: {exc})")
    if not isinstance(document, dict):
        return JsonFeed(None, "", error="JSON that is not an object")
    declared = document.get("version")
    version = VERSIONS.get(declared.strip().rstrip("/")) if isinstance(declared, str) else None
    if version is None:
        found = f"version {declared!r}" if declared is not None else "no version"
        return JsonFeed(None, "", error=f"JSON that is not a JSON Feed ({found})")
    items = document.get("items")
    if not isinstance(items, list):
        return JsonFeed(None, "", error="JSON Feed without an items list")
    feed_authors = _authors(document)
    entries = tuple(
        _entry(item, feed_authors) for item in items[:max_items] if isinstance(item, dict)
    )
    language = document.get("language")
    return JsonFeed(
        version=version,
        title=_text(document.get("title")),
        items=entries,
        items_in_document=len(items),
        language=language if isinstance(language, str) else None,
    )


def _entry(item: dict[str, Any], feed_authors: list[dict[str, str]]) -> dict[str, Any]:
    """One JSON Feed item in feedparser's entry shape."""
    entry: dict[str, Any] = {}
    item_id = item.get("id")
    if isinstance(item_id, str | int) and not isinstance(item_id, bool):
        entry["id"] = str(item_id)  # 1.0 feeds sometimes give a number
    link = _text(item.get("url")) or _text(item.get("external_url"))
    if link:
        entry["link"] = link
    title = _text(item.get("title"))
    if title:
        entry["title"] = title
    # The summary, else the content; read as HTML even when the feed says text (a plain
    # text stays as it is, markup a sloppy publisher put there is reduced to its text).
    body = next(
        (
            value
            for key in ("summary", "content_html", "content_text")
            if (value := _text(item.get(key)))
        ),
        "",
    )
    if body:
        entry["summary"] = body
    for source, key in (("date_published", "published"), ("date_modified", "updated")):
        value = _text(item.get(source))
        if value:
            entry[key] = value
            when = parse_iso(value)
            if when is not None:
                entry[f"{key}_parsed"] = when.utctimetuple()
    authors = _authors(item) or feed_authors
    if authors:
        entry["authors"] = authors
    tags = item.get("tags")
    if isinstance(tags, list):
        entry["tags"] = [{"term": tag} for tag in tags if isinstance(tag, str) and tag.strip()]
    return entry


def _authors(owner: dict[str, Any]) -> list[dict[str, str]]:
    """1.1's ``authors`` list, else 1.0's single ``author``; names only (or their URL)."""
    listed = owner.get("authors")
    people = listed if isinstance(listed, list) else [owner.get("author")]
    names = []
    for person in people:
        if isinstance(person, dict):
            name = _text(person.get("name")) or _text(person.get("url"))
            if name:
                names.append({"name": name})
    return names


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


__all__ = ["JSON_MEDIA_TYPES", "JsonFeed", "looks_like_json", "parse_json_feed"]
