"""Renders the pages of ``newswatch ui`` from the templates in ``templates/`` (package data).

Autoescaping is on for every template, so every feed-provided string (titles, outlets,
snippets, URLs, entity names) reaches the page as text; a link to the outside is drawn
only for a plain absolute http(s) URL (``external_href``, the report's rule), and the paths
of internal links quote their ids. The pages carry no script: the server's
Content-Security-Policy (``app.py``) forbids any.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jinja2

# reserved characters and % stay as they are; quotes, angle brackets, non-ASCII are encoded
URL_SAFE_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("newswatch.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["external"] = external_href
    env.filters["segment"] = path_segment
    env.filters["when"] = when
    env.globals["query_string"] = query_string
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def external_href(url: str | None) -> str | None:
    """``url`` when it is a plain absolute http(s) URL, else None (no link is drawn); the
    characters a URL may not hold raw come back percent-encoded, as a browser sends them."""
    if not url:
        return None
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return quote(url, safe=URL_SAFE_CHARACTERS)


def path_segment(value: object) -> str:
    """``value`` as one URL path segment (``/`` and every reserved character quoted)."""
    return quote(str(value), safe="")


def query_string(**params: object) -> str:
    """``?a=1&b=2`` of the parameters that have a value (empty when none has)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return "?" + urlencode(kept) if kept else ""


def when(value: datetime | date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()
