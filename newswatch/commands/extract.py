"""``newswatch extract FILE_OR_URL...``: run the article extraction and show what came out.

Local ``.html`` / ``.html.gz`` files or http(s) URLs; one JSON object per input on stdout,
so a user can see why a page came out as it did. URLs are fetched exactly as the pipeline
fetches pages (``newswatch.extractors.http.Fetcher``): SSRF guard (private addresses only with
--allow-private or $NEWSWATCH_ALLOW_PRIVATE), robots.txt, the body cap on decoded bytes
($NEWSWATCH_MAX_BODY_BYTES) and the total deadline per request ($NEWSWATCH_TOTAL_TIMEOUT).
"""

from __future__ import annotations

import argparse
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from newswatch.core.records import ExtractedArticle, PageFetch
from newswatch.core.settings import Settings

# trafilatura (pages.py) and httpx (http.py) are imported where they are used, so parsing
# arguments (and `newswatch --help`) loads neither.

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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    parser.add_argument(
        "--allow-private",
        action="append",
        default=[],
        metavar="HOST",
        help="allow this private/loopback host or network despite the SSRF guard "
        "(repeatable; replaces $NEWSWATCH_ALLOW_PRIVATE for this command)",
    )
    parser.set_defaults(handler=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    from newswatch.extractors.pages import extract_fetched

    allow = tuple(args.allow_private) if args.allow_private else None
    settings = Settings.from_env(allow_private=allow)
    urls = [s for s in args.inputs if is_url(s)]
    fetched = dict(zip(urls, fetch_urls(urls, settings), strict=True))
    failures = 0
    for source in args.inputs:
        fetch = fetched[source] if source in fetched else read_file(source)
        failures += fetch.status != "ok"
        article = extract_fetched(fetch)
        record = article_json(article)
        if args.max_chars is not None:
            record["text"] = article.text[: args.max_chars]
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 1 if failures else 0


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_file(source: str) -> PageFetch:
    """A ``PageFetch`` for a local ``.html`` / ``.html.gz`` file."""
    now = datetime.now(UTC)
    path = Path(source)
    try:
        body = path.read_bytes()
        if path.suffix == ".gz":
            body = gzip.decompress(body)
    except (OSError, EOFError) as exc:
        return PageFetch(source, now, "error", error=f"{type(exc).__name__}: {exc}")
    return PageFetch(path.resolve().as_uri(), now, "ok", body=body, content_type=None)


def fetch_urls(urls: list[str], settings: Settings) -> list[PageFetch]:
    """Every URL through the pipeline's guarded fetcher (one record each, never raises)."""
    if not urls:
        return []
    from newswatch.extractors.http import Fetcher

    async def go() -> list[PageFetch]:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch_pages(urls)

    import asyncio

    return asyncio.run(go())


def article_json(article: ExtractedArticle) -> dict[str, object]:
    values = dict(vars(article))
    published = article.published_at
    values["date"] = published.isoformat() if published else None
    return {name: values.get(name) for name in SHOWN_FIELDS}
