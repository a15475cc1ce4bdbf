"""Load the source catalogue (``seeds/sources.toml``): ``[[source]]`` tables -> Source records.

Each table has ``id``, ``name``, ``url`` (required), ``language``, ``kind``, ``enabled`` and
``sitemap`` (optional; the sitemap or sitemap index ``newswatch backfill`` reads). An
optional ``[catalogue]`` table carries free metadata (version, notes).
A ``kind = "gdelt"`` URL must be a DOC API article-list query within GDELT's documented
limits (``gdelt.query_problem``). Any problem raises ``ConfigError`` naming the file, the
line and the field. ``{{BASE}}`` in a URL is left as is: the offline sample substitutes
its server's address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newswatch.core.errors import ConfigError
from newswatch.core.records import Source
from newswatch.extractors import gdelt
from newswatch.extractors.toml_lines import TomlLines, read_toml

KINDS = frozenset({"rss", "atom", "gnews", "gdelt", "sitemap"})
REQUIRED = ("id", "name", "url")
OPTIONAL = {"language": str, "kind": str, "enabled": bool, "sitemap": str}
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
BASE_PLACEHOLDER = "{{BASE}}"


@dataclass(frozen=True)
class _Where:
    """Names the line of a ``[[source]]`` table or of one of its fields in errors."""

    path: Path
    lines: TomlLines

    def line_of(self, index: int, field: str | None = None) -> int:
        return self.lines.table_line("source", index, field)

    def error(self, index: int, field: str | None, message: str) -> ConfigError:
        line = self.line_of(index, field)
        where = f"{self.path}:{line}"
        label = f"source #{index + 1}" + (f" field '{field}'" if field else "")
        return ConfigError(f"{where}: {label}: {message}")


def load_sources(path: Path) -> list[Source]:
    """Read and validate a sources file; raise ConfigError (file, line, field) if malformed."""
    path = Path(path)
    document, lines = read_toml(path, "sources file")
    where = _Where(path, lines)

    unknown = sorted(set(document) - {"source", "catalogue"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key '{unknown[0]}' (expected [[source]])")
    tables = document.get("source", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'source' must be an array of tables ([[source]])")

    sources: list[Source] = []
    first_line_of_id: dict[str, int] = {}
    for index, table in enumerate(tables):
        source = _source_from_table(table, index, where)
        if source.id in first_line_of_id:
            raise where.error(
                index,
                "id",
                f"duplicate id '{source.id}' (first defined on line {first_line_of_id[source.id]})",
            )
        first_line_of_id[source.id] = where.line_of(index, "id")
        sources.append(source)
    return sources


def _source_from_table(table: dict[str, Any], index: int, where: _Where) -> Source:
    for key in table:
        if key not in REQUIRED and key not in OPTIONAL:
            raise where.error(index, key, "unknown key")
    for key in REQUIRED:
        value = table.get(key)
        if value is None:
            raise where.error(index, None, f"missing required field '{key}'")
        if not isinstance(value, str) or not value.strip():
            raise where.error(index, key, "must be a non-empty string")
    for key, kind in OPTIONAL.items():
        if key in table and not isinstance(table[key], kind):
            raise where.error(index, key, f"must be a {kind.__name__}")

    source_id = table["id"].strip()
    if not ID_PATTERN.match(source_id):
        raise where.error(index, "id", f"'{source_id}' must match {ID_PATTERN.pattern}")
    url = table["url"].strip()
    problem = url_problem(url)
    if problem:
        raise where.error(index, "url", problem)
    kind = table.get("kind", "rss")
    if kind not in KINDS:
        raise where.error(index, "kind", f"'{kind}' is not one of {', '.join(sorted(KINDS))}")
    if kind == gdelt.KIND and (problem := gdelt.query_problem(url)):
        raise where.error(index, "url", problem)
    language = table.get("language")
    if language is not None and not LANGUAGE_PATTERN.match(language):
        raise where.error(index, "language", f"'{language}' is not a language code like 'en'")
    sitemap = table.get("sitemap")
    if sitemap is not None:
        sitemap = sitemap.strip()
        problem = url_problem(sitemap)
        if problem:
            raise where.error(index, "sitemap", problem)
    return Source(
        id=source_id,
        name=table["name"].strip(),
        url=url,
        language=language,
        kind=kind,
        enabled=table.get("enabled", True),
        sitemap=sitemap,
    )


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a source URL, or None (``{{BASE}}/…`` is accepted)."""
    if url.startswith(BASE_PLACEHOLDER):
        return (
            None
            if url[len(BASE_PLACEHOLDER) :].startswith("/")
            else "'{{BASE}}' must be followed by '/'"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"scheme '{parts.scheme or '(none)'}' not allowed (http or https only)"
    if not parts.hostname:
        return "URL has no host"
    if any(ch.isspace() for ch in url):
        return "URL contains whitespace"
    return None
