"""The Starlette application behind ``newswatch ui``: four read-only pages and a stylesheet.

- ``/`` the story stream, filtered by outlet, language, entity, days and on-topic;
- ``/entity/{id}`` one entity: weekly series, co-occurring entities, newest articles;
- ``/article/{id}`` everything stored about one article (``newswatch why``);
- ``/search?q=`` BM25 search over titles and texts (the snapshot's index).

Only GET (and HEAD) is routed, so nothing can be written through it. Each request opens the
warehouse read-only for as long as it takes to answer (``data.Reader``). Every answer carries
a Content-Security-Policy that allows no script, no frame and no request to any other
origin; ``Host`` headers other than the bound loopback names are refused (DNS rebinding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newswatch.core.errors import WarehouseError, WarehouseLocked
from newswatch.ui import data
from newswatch.ui.pages import render
from newswatch.warehouse.ui_queries import StoryFilters

PAGE_SIZE = 50
MAX_OFFSET = 1_000_000
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BadRequest(ValueError):
    """A query parameter that cannot be read (shown as a 400 page)."""


def create_app(reader: data.Reader, *, allowed_hosts: Sequence[str] | None = None) -> Starlette:
    """The application reading through ``reader``; ``allowed_hosts`` are the ``Host`` header
    names accepted (None: any, for a server bound to a non-loopback address)."""

    def page(build: Callable[[Request], tuple[int, str]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                status, html = build(request)
            except BadRequest as exc:
                status, html = 400, _error(reader, 400, "Bad request", str(exc))
            except WarehouseLocked as exc:
                status, html = 503, _error(reader, 503, "Database busy", str(exc))
            except WarehouseError as exc:
                status, html = 503, _error(reader, 503, "No warehouse", str(exc))
            return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

        return endpoint

    def stories(request: Request) -> tuple[int, str]:
        filters = story_filters(request)
        offset = _int(request, "offset", 0, maximum=MAX_OFFSET)
        with reader.connection() as con:
            shown = data.stories_page(con, filters, offset=offset, limit=PAGE_SIZE)
        return 200, render("stories.html", page=shown, source=reader.describe(), query="")

    def entity(request: Request) -> tuple[int, str]:
        key = request.path_params["entity_id"]
        with reader.connection() as con:
            shown = data.entity_page(con, key)
        if shown is None:
            return 404, _error(reader, 404, "Unknown entity", f"no entity {key!r} is stored")
        return 200, render("entity.html", page=shown, source=reader.describe(), query="")

    def article(request: Request) -> tuple[int, str]:
        key = request.path_params["article_id"]
        with reader.connection() as con:
            found = data.why_page(con, key)
        if found is None:
            return 404, _error(reader, 404, "Unknown article", f"no article {key!r} is stored")
        return 200, render("article.html", why=found, source=reader.describe(), query="")

    def search(request: Request) -> tuple[int, str]:
        text = request.query_params.get("q", "")[:500]
        with reader.connection() as con:
            shown = data.search_page(con, text)
        return 200, render("search.html", page=shown, source=reader.describe(), query=text)

    routes = [
        Route("/", page(stories), methods=["GET"]),
        Route("/entity/{entity_id:path}", page(entity), methods=["GET"]),
        Route("/article/{article_id:path}", page(article), methods=["GET"]),
        Route("/search", page(search), methods=["GET"]),
        Route("/static/style.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", no_icon, methods=["GET"]),
    ]

    def refused(request: Request, exc: Exception) -> Response:
        """Starlette's own answers (no such page, a method other than GET) as pages."""
        assert isinstance(exc, HTTPException)
        html = _error(reader, exc.status_code, exc.detail, f"{request.method} {request.url.path}")
        headers = {**SECURITY_HEADERS, **(exc.headers or {})}
        return HTMLResponse(html, status_code=exc.status_code, headers=headers)

    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: refused}
    )


def story_filters(request: Request) -> StoryFilters:
    params = request.query_params
    return StoryFilters(
        outlet=params.get("outlet") or None,
        language=params.get("language") or None,
        entity=params.get("entity") or None,
        since=_date(request, "since"),
        until=_date(request, "until"),
        on_topic=params.get("on_topic") in {"1", "on", "true"},
    )


def stylesheet(_request: Request) -> Response:
    css = resources.files("newswatch.ui").joinpath("templates/style.css").read_text("utf-8")
    return Response(css, media_type="text/css", headers=SECURITY_HEADERS)


def no_icon(_request: Request) -> Response:
    return Response(status_code=204, headers=SECURITY_HEADERS)


def _error(reader: data.Reader, status: int, title: str, message: str) -> str:
    return render(
        "error.html",
        status=status,
        title=title,
        message=message,
        source=_describe(reader),
        query="",
    )


def _describe(reader: data.Reader) -> str:
    try:
        return reader.describe()
    except OSError:  # the file went away between the check and the stat
        return str(reader.db_path)


def _date(request: Request, name: str) -> date | None:
    value = request.query_params.get(name) or None
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a day, YYYY-MM-DD (got {value[:40]!r})") from None


def _int(request: Request, name: str, default: int, *, maximum: int) -> int:
    value = request.query_params.get(name) or None
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number (got {value[:40]!r})") from None
    if not 0 <= number <= maximum:
        raise BadRequest(f"{name} must be between 0 and {maximum}")
    return number
