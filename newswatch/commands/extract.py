"""``newswatch extract FILE_OR_URL...``: run the article extraction and show what came out.

Local ``.html`` / ``.html.gz`` files or http(s) URLs (fetched with plain httpx); one JSON
object per input on stdout, so a user can see why a page came out as it did.
"""

from __future__ import annotations

import argparse
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from extractors.models import ExtractedArticle, PageFetch
from extractors.pages import extract_fetched
from newswatch.settings import Settings

SHOWN_FIELDS = (
    "url",
    "canonical_url",
    "title",
    "date",
    "date_method",
    "author",
    "language",
    "site_name",
    "status",
    "status_reason",
    "method",
    "content_hash",
    "text",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract article text and metadata from files or URLs (JSON lines)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_URL", help=".html, .html.gz or URL")
    parser.add_argument(
        "--max-chars", type=int, default=None, help="cut the printed text to this many characters"
    )
    parser.set_defaults(handler=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    failures = 0
    for source in args.inputs:
        fetch = read_input(source, settings)
        failures += fetch.status != "ok"
        record = article_json(extract_fetched(fetch))
        if args.max_chars is not None:
            record["text"] = record["text"][: args.max_chars]
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if failures else 0


def read_input(source: str, settings: Settings) -> PageFetch:
    """A ``PageFetch`` for a URL (plain httpx GET) or a local file."""
    now = datetime.now(UTC)
    if source.startswith(("http://", "https://")):
        return fetch_url(source, settings)
    path = Path(source)
    try:
        body = path.read_bytes()
        if path.suffix == ".gz":
            body = gzip.decompress(body)
    except (OSError, EOFError) as exc:
        return PageFetch(source, now, "error", error=f"{type(exc).__name__}: {exc}")
    return PageFetch(path.resolve().as_uri(), now, "ok", body=body, content_type=None)


def fetch_url(url: str, settings: Settings) -> PageFetch:
    now = datetime.now(UTC)
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    try:
        response = httpx.get(
            url,
            follow_redirects=True,
            timeout=timeout,
            headers={"User-Agent": settings.user_agent},
        )
    except httpx.HTTPError as exc:
        return PageFetch(url, now, "error", error=f"{type(exc).__name__}: {exc}")
    status = "ok" if response.is_success else "error"
    return PageFetch(
        url,
        now,
        status,
        final_url=str(response.url),
        http_status=response.status_code,
        content_type=response.headers.get("content-type"),
        body=response.content,
        error=None if status == "ok" else f"HTTP {response.status_code}",
    )


def article_json(article: ExtractedArticle) -> dict[str, object]:
    values = dict(vars(article))
    published = article.published_at
    values["date"] = published.isoformat() if published else None
    return {name: values.get(name) for name in SHOWN_FIELDS}
