"""Renders the pages of ``newswatch ui`` from the templates in ``templates/`` (package data).

Autoescaping is on for every template, so every feed-provided string (titles, outlets,
snippets, URLs, entity names) reaches the page as text; a link to the outside is drawn
only for a plain absolute http(s) URL (``newswatch.report.links.safe_href``, the report's
rule), and the paths of internal links quote their ids. The pages carry no script: the server's
Content-Security-Policy (``app.py``) forbids any.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from newswatch.report.links import safe_href


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("newswatch.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["external"] = safe_href
    env.filters["segment"] = path_segment
    env.filters["when"] = when
    env.globals["query_string"] = query_string
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


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
