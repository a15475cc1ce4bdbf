"""Page bytes -> ExtractedArticle: main text, metadata, date, canonical URL and a status.

Choices made by measurement (``python bench/extract/run.py``; figures in
bench/extract/README.md):

- trafilatura with ``favor_precision=True, include_comments=False``: body F1 0.975 on the
  ScrapingHub benchmark pages against 0.965 for its defaults, 0.966 favor_recall, 0.961
  readability-lxml; on the Fundus pages (never tuned against) ours 0.950, defaults 0.948.
- ``fast=True`` first, and trafilatura's full mode (which also runs readability and jusText
  and compares) only when the fast text is under ``FULL_CHECK_CHARS``: the two modes
  differed on 7 of 295 corpus pages, each time with a short fast text; this halves
  trafilatura's CPU per page at the same F1.
- Metadata from the already parsed tree (JSON-LD, meta tags) instead of trafilatura's
  ``with_metadata`` (+40 % time per page). Title: JSON-LD ``headline``, then ``og:title``,
  ``<h1>``, ``<title>``, entities decoded and a trailing/leading site name cut: 160 of 204
  Fundus titles exact, against 134 for trafilatura's title.
- The body is chosen by evidence (``body_choice``): when the precision text is short or
  the page's paragraphs hold much text it lacks (and the page is not a paywall teaser),
  trafilatura's default mode and then readability-lxml are asked, and one of them wins
  only when it holds the precision text and much more, or when the two agree on a text
  the precision pass missed. On the Fundus pages 0.956 against 0.950 for the precision text
  alone; the same 0.975 on the benchmark pages.

``extract_article`` never raises: failures become a status (ok | short | empty | paywall |
not_html | fetch_failed | error) with a reason, and the feed summary stands in for the text
when it is longer than what the page gave.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from urllib.parse import urlsplit

import trafilatura
from charset_normalizer import from_bytes as detect_charset
from lxml.html import HtmlElement
from trafilatura.settings import Document
from trafilatura.utils import load_html

from newswatch.core.records import ExtractedArticle, FeedEntry, PageFetch
from newswatch.extractors import body_choice
from newswatch.extractors.dates import article_date, reconcile_date
from newswatch.extractors.language import article_language
from newswatch.extractors.urls import canonical_url

MAX_PAGE_BYTES = 5 * 1024 * 1024  # a 25 MB page costs trafilatura ~6 s and 833 MB RSS
MIN_TEXT_CHARS = 250  # trafilatura's own MIN_EXTRACTED_SIZE: below it a text is "short"
# Below this, trafilatura's fast result is re-checked in full mode. On the corpus the two
# modes differed on 7 of 295 pages, 6 of them with a fast text under 500 characters.
FULL_CHECK_CHARS = 1000
SNIFF_BYTES = 4096  # binary signatures and NUL bytes are looked for here
# HTML markers (and a meta charset) are looked for this far: pages can begin with a long
# <style> block, PHP warnings, byte-order marks or whitespace before their first tag
HTML_SNIFF_BYTES = 64 * 1024

HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml")
GENERIC_CONTENT_TYPES = ("", "application/octet-stream", "binary/octet-stream", "text/plain")
BINARY_SIGNATURES = {
    b"%PDF": "PDF document",
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"PK\x03\x04": "ZIP archive",
    b"\x1f\x8b": "gzip data",
}
HTML_MARKERS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<meta",
    b"<title",
    b"<div",
    b"<p",
)
BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# WHATWG: these labels mean windows-1252 in browsers
LATIN1_LABELS = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"}
PAYWALL_PHRASES = (
    "subscribe to continue",
    "subscribe to read",
    "to continue reading",
    "already a subscriber",
    "subscribers only",
    "for subscribers",
    "log in to continue",
    "sign in to continue",
    "become a member to read",
    "jetzt abonnieren",
    "weiterlesen mit",
    "réservé aux abonnés",
)
ARTICLE_TYPES = ("article", "posting", "report")
# readability's article keeps a line break around these (its text is otherwise one line)
BLOCK_TAGS: tuple[str, ...] = (
    *("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr"),
    *("dt", "dd", "figcaption", "section", "article", "header", "footer", "br"),
)

_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)
_TITLE_SEPARATOR = re.compile(r"\s+[|\-–—·:]\s+")
_PAYWALL_MARKUP = re.compile(r"paywall|subscriber-only|premium-wall|regwall", re.IGNORECASE)


@dataclass(frozen=True)
class PageMeta:
    """What the page states about itself, read from JSON-LD and meta tags."""

    title: str | None = None
    author: str | None = None
    site_name: str | None = None
    description: str | None = None
    language: str | None = None
    canonical: str | None = None
    published: tuple[str, ...] = ()  # JSON-LD datePublished values
    paywalled: bool = False


@dataclass(frozen=True)
class BodyText:
    text: str
    method: str


# ---------------------------------------------------------------- entry points


def extract_article(
    body: bytes | None,
    *,
    url: str,
    final_url: str | None = None,
    content_type: str | None = None,
    entry: FeedEntry | None = None,
) -> ExtractedArticle:
    """Extract one page; never raises (any failure becomes status ``error``)."""
    try:
        return _extract(body, url=url, final_url=final_url, content_type=content_type, entry=entry)
    except Exception as exc:  # one bad page must not stop a batch
        reason = f"{type(exc).__name__}: {exc}"[:300]
        return fallback_article(url, final_url, entry, status="error", reason=reason)


def extract_fetched(fetch: PageFetch, entry: FeedEntry | None = None) -> ExtractedArticle:
    """Extract a ``PageFetch``; a failed fetch keeps the feed summary and says why."""
    if fetch.status != "ok" or fetch.body is None:
        reason = fetch.error or (f"HTTP {fetch.http_status}" if fetch.http_status else None)
        return fallback_article(
            fetch.url, fetch.final_url, entry, status="fetch_failed", reason=reason or "no body"
        )
    return extract_article(
        fetch.body,
        url=fetch.url,
        final_url=fetch.final_url,
        content_type=fetch.content_type,
        entry=entry,
    )


def fallback_article(
    url: str, final_url: str | None, entry: FeedEntry | None, *, status: str, reason: str
) -> ExtractedArticle:
    """The article as the feed entry describes it, for pages that gave nothing usable."""
    published_at, date_method = reconcile_date(entry, None, None)
    summary = entry.summary if entry else ""
    return ExtractedArticle(
        url=url,
        canonical_url=_safe_canonical(url, final_url),
        title=entry.title if entry and entry.title else None,
        text=summary,
        status=status,
        status_reason=reason,
        author="; ".join(entry.authors) if entry and entry.authors else None,
        published_at=published_at,
        date_method=date_method,
        content_hash=content_hash(summary),
        method="feed_summary" if summary else None,
    )


def content_hash(text: str) -> str | None:
    """sha1 of the text case-folded with whitespace collapsed; None for empty text."""
    normalised = " ".join(text.casefold().split())
    if not normalised:
        return None
    return hashlib.sha1(normalised.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- the pipeline


def _extract(
    body: bytes | None,
    *,
    url: str,
    final_url: str | None,
    content_type: str | None,
    entry: FeedEntry | None,
) -> ExtractedArticle:
    if body is None:
        return fallback_article(url, final_url, entry, status="fetch_failed", reason="no body")
    if not body.strip():
        return fallback_article(url, final_url, entry, status="empty", reason="empty body")
    if len(body) > MAX_PAGE_BYTES:
        too_big = f"page of {len(body)} bytes exceeds {MAX_PAGE_BYTES}"
        return fallback_article(url, final_url, entry, status="error", reason=too_big)
    not_html = not_html_reason(body, content_type)
    if not_html:
        return fallback_article(url, final_url, entry, status="not_html", reason=not_html)

    tree = load_html(decode_html(body, content_type))
    if tree is None:
        return fallback_article(url, final_url, entry, status="empty", reason="no HTML tree")
    page_url = final_url or url
    meta = read_page_meta(tree, page_url)
    published_at, date_method, date_offset = article_date(tree, page_url, meta.published, entry)
    extracted = extract_text(tree, page_url)
    paywall = _paywall_reason(extracted.text, meta, tree)
    if not paywall:
        extracted = choose_body(tree, page_url, extracted)
    status, reason = _judge(extracted.text, paywall)
    text, method = extracted.text, extracted.method
    summary = entry.summary if entry else ""
    if status != "ok" and len(summary) > len(text):
        text, method = summary, "feed_summary"
    return ExtractedArticle(
        url=url,
        canonical_url=_safe_canonical(url, final_url, meta.canonical),
        title=meta.title or (entry.title if entry and entry.title else None),
        text=text,
        status=status,
        status_reason=reason,
        author=meta.author or ("; ".join(entry.authors) if entry and entry.authors else None),
        published_at=published_at,
        date_method=date_method,
        published_offset_minutes=date_offset,
        # the declared language unless the text's script or a confident detection differs
        language=article_language(meta.language, text),
        site_name=meta.site_name,
        description=meta.description,
        content_hash=content_hash(text),
        method=method,
    )


def _paywall_reason(text: str, meta: PageMeta, tree: HtmlElement) -> str | None:
    """Why a short text looks like a subscription teaser (None for long texts)."""
    if len(text) >= MIN_TEXT_CHARS:
        return None
    if meta.paywalled:
        return "page marks itself isAccessibleForFree=false"
    return paywall_marker(tree, text)


def _judge(text: str, paywall: str | None) -> tuple[str, str | None]:
    if len(text) >= MIN_TEXT_CHARS:
        return "ok", None
    if paywall:
        return "paywall", paywall
    if text:
        return "short", f"{len(text)} characters of text (< {MIN_TEXT_CHARS})"
    return "empty", "no extractable text"


def _safe_canonical(url: str, final_url: str | None, declared: str | None = None) -> str:
    try:
        return canonical_url(url, html_canonical=declared, final_url=final_url)
    except Exception:  # a malformed URL must not lose the article
        return url


# ---------------------------------------------------------------- bytes -> text


def not_html_reason(body: bytes, content_type: str | None) -> str | None:
    """Why these bytes are not an HTML page, or None when they are (or may be)."""
    bom_encoding, start = _leading_bom(body)
    head = body[start : start + SNIFF_BYTES].lstrip()
    for signature, name in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return f"{name} (content type {content_type or 'unknown'})"
    mime = (content_type or "").split(";")[0].strip().lower()
    utf16 = "utf-16" in (bom_encoding or (content_type or "").lower())
    if b"\x00" in head and not utf16:
        return f"binary data (content type {mime or 'unknown'})"
    if mime in HTML_CONTENT_TYPES:
        return None
    if mime in GENERIC_CONTENT_TYPES and _has_html_marker(body[:HTML_SNIFF_BYTES], bom_encoding):
        return None
    if mime in GENERIC_CONTENT_TYPES:
        return f"no HTML markup (content type {mime or 'unknown'})"
    return f"content type {mime or 'unknown'}"


def _leading_bom(body: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark at the start names, and where the content begins."""
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return encoding, len(bom)
    return None, 0


def _has_html_marker(window: bytes, bom_encoding: str | None) -> bool:
    """An HTML tag anywhere in the window (a UTF-16 page is decoded first)."""
    if bom_encoding and bom_encoding != "utf-8":
        text = window.decode(bom_encoding, errors="ignore").lower()
        return any(marker.decode("ascii") in text for marker in HTML_MARKERS)
    lowered = window.lower()
    return any(marker in lowered for marker in HTML_MARKERS)


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode page bytes: byte-order mark, valid UTF-8, declared charset, meta charset,
    detection. Bytes that are valid UTF-8 are decoded as UTF-8 whatever the declaration:
    servers often declare ISO-8859-1 for UTF-8 pages, while legacy text that happens to be
    valid UTF-8 is vanishingly rare."""
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace")
    declared = _document_charset(body[:HTML_SNIFF_BYTES])
    for label in ("utf-8", _header_charset(content_type), declared):
        decoded = _try_decode(body, label)
        if decoded is not None:
            return decoded
    best = detect_charset(body[:200_000]).best()
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace")
    return body.decode("cp1252", errors="replace")


def _header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return match[1] if match else None


def _document_charset(head: bytes) -> str | None:
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return match[1].decode("ascii", errors="ignore") if match else None


def _try_decode(body: bytes, label: str | None) -> str | None:
    if not label:
        return None
    encoding = "cp1252" if label.lower() in LATIN1_LABELS else label
    try:
        return body.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- main text


def extract_text(tree: HtmlElement, url: str | None) -> BodyText:
    """trafilatura in precision mode, fast; its full mode (which compares with readability
    and jusText) only for texts under ``FULL_CHECK_CHARS``; then the fallback chain for texts
    under ``MIN_TEXT_CHARS``, keeping the first long enough, else the longest."""
    fast = _clean_text(trafilatura_precision(tree, url, fast=True))
    if len(fast) >= FULL_CHECK_CHARS:
        return BodyText(fast, "trafilatura")
    full = _clean_text(trafilatura_precision(tree, url, fast=False))
    best = max(BodyText(fast, "trafilatura"), BodyText(full, "trafilatura"), key=_length)
    if len(full) >= MIN_TEXT_CHARS:
        return BodyText(full, "trafilatura")
    return best


def choose_body(tree: HtmlElement, url: str | None, first: BodyText) -> BodyText:
    """The precision text, unless ``body_choice`` finds it suspicious (short, or the page's
    paragraphs hold much more text) and the other extractors show it is a fragment."""
    reason = body_choice.second_opinion_reason(first.text, paragraphs(tree), MIN_TEXT_CHARS)
    if reason is None:
        return first

    def runner(method: str, extractor: Extractor) -> Callable[[], body_choice.Candidate]:
        return lambda: body_choice.Candidate(method, _clean_text(extractor(tree, url)))

    others = [runner(method, extractor) for method, extractor in SECOND_OPINIONS]
    chosen = body_choice.choose(
        body_choice.Candidate(first.method, first.text), others, MIN_TEXT_CHARS
    )
    return BodyText(chosen.candidate.text, chosen.candidate.method)


def paragraphs(tree: HtmlElement) -> Iterator[str]:
    """The text of each of the page's ``<p>`` elements, whitespace collapsed."""
    return (" ".join(p.text_content().split()) for p in tree.iter("p"))


def trafilatura_precision(tree: HtmlElement, url: str | None, *, fast: bool) -> str:
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        favor_precision=True,
        include_comments=False,
        with_metadata=False,
        fast=fast,
    )
    return document.text if isinstance(document, Document) and document.text else ""


def trafilatura_default(tree: HtmlElement, url: str | None) -> str:
    """trafilatura's default settings in full mode (it compares with its own readability
    and jusText runs): the candidate that most often holds what precision mode cut."""
    document = trafilatura.bare_extraction(
        tree, url=url, include_comments=False, with_metadata=False
    )
    return document.text if isinstance(document, Document) and document.text else ""


def readability_text(tree: HtmlElement, url: str | None) -> str:
    """readability-lxml's article, one line per block element. It runs on a copy: it drops
    hidden elements from the tree it is given."""
    from readability import Document  # imported late: only the second opinion needs it

    summary = Document(deepcopy(tree), url=url).summary(html_partial=True)
    if not summary.strip():
        return ""
    partial = load_html(f"<html><body>{summary}</body></html>")
    if partial is None:
        return ""
    for element in partial.iter(*BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    body = partial.find("body")
    return (body if body is not None else partial).text_content()


Extractor = Callable[[HtmlElement, str | None], str]
# Asked in this order when the precision text is suspicious: trafilatura's defaults (22 ms a
# page) settle most pages before readability-lxml (35 ms) runs; bench/extract has the figures.
SECOND_OPINIONS: tuple[tuple[str, Extractor], ...] = (
    ("trafilatura_default", trafilatura_default),
    ("readability", readability_text),
)


def _length(body: BodyText) -> int:
    return len(body.text)


def _clean_text(text: str | None) -> str:
    if not text:
        return ""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- metadata


def read_page_meta(tree: HtmlElement, url: str | None = None) -> PageMeta:
    """Title, author, site, description, language, canonical link, dates, paywall flag."""
    metas = _meta_values(tree)
    article = _json_ld_article(tree)
    publisher = article.get("publisher")
    site_name = _first_text(
        metas.get("og:site_name"),
        publisher.get("name") if isinstance(publisher, dict) else None,
    )
    return PageMeta(
        title=_first_text(
            article.get("headline"),
            strip_site_name(_first_text(metas.get("og:title")), site_name, url),
            _element_text(tree, "//h1"),
            strip_site_name(_first_text(_element_text(tree, "//title")), site_name, url),
        ),
        author=_authors(article.get("author")) or _human_author(metas.get("author")),
        site_name=site_name,
        description=_first_text(metas.get("description"), metas.get("og:description")),
        language=_language(tree, metas, article),
        canonical=_first_text(
            _first_attr(tree, '//link[@rel="canonical"]/@href'), metas.get("og:url")
        ),
        published=tuple(v for v in [article.get("datePublished")] if isinstance(v, str)),
        paywalled=_is_false(article.get("isAccessibleForFree")),
    )


def strip_site_name(title: str | None, site_name: str | None, url: str | None) -> str | None:
    """``Story - Site`` / ``Site | Story`` -> ``Story`` when the part is the site's name
    (its og:site_name, or the host's main label as in ``golem`` for golem.de)."""
    if not title:
        return title
    parts = _TITLE_SEPARATOR.split(title)
    if len(parts) < 2:
        return title
    host_labels = ((urlsplit(url).hostname or "") if url else "").removeprefix("www.").split(".")
    suffix = host_labels[-1]
    names = {_squash(name) for name in [site_name, *host_labels[:-1]] if name}

    def is_site(part: str) -> bool:
        squashed = _squash(part)
        return any(
            squashed in (name, name + suffix) or (len(name) >= 5 and name in squashed)
            for name in names
            if name and len(part) <= 40
        )

    if is_site(parts[-1]):
        return _first_text(title[: title.rfind(parts[-1])].rstrip(" |-–—·:"))
    if is_site(parts[0]):
        return _first_text(title[len(parts[0]) :].lstrip(" |-–—·:"))
    return title


def _squash(text: str) -> str:
    return re.sub(r"\W", "", text.casefold())


def paywall_marker(tree: HtmlElement, text: str) -> str | None:
    """A sign that the short text is a subscription teaser, or None."""
    page_text = " ".join((text + " " + _page_words(tree)).casefold().split())
    for phrase in PAYWALL_PHRASES:
        if phrase in page_text:
            return f"page says {phrase!r}"
    for element in tree.xpath("//*[@class or @id]")[:5000]:
        attributes = f"{element.get('class', '')} {element.get('id', '')}"
        if _PAYWALL_MARKUP.search(attributes):
            return f"paywall markup ({attributes.strip()[:60]})"
    return None


def _page_words(tree: HtmlElement) -> str:
    body = tree.find("body")
    node = body if body is not None else tree
    return " ".join(node.xpath("//text()[not(ancestor::script) and not(ancestor::style)]"))[:20000]


def _meta_values(tree: HtmlElement) -> dict[str, str]:
    values: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").strip().lower()
        content = meta.get("content")
        if key and content and content.strip() and key not in values:
            values[key] = content.strip()
        equiv = (meta.get("http-equiv") or "").lower()
        if equiv == "content-language" and content:
            values.setdefault("content-language", content)
    return values


def _json_ld_article(tree: HtmlElement) -> dict[str, object]:
    """The first JSON-LD object of an article type (or any object with a headline)."""
    candidates: list[dict[str, object]] = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "", strict=False)
        except ValueError:
            continue
        candidates.extend(_json_objects(data))
    for obj in candidates:
        types = obj.get("@type")
        names = [types] if isinstance(types, str) else types if isinstance(types, list) else []
        if any(isinstance(n, str) and n.lower().endswith(ARTICLE_TYPES) for n in names):
            return obj
    return next((obj for obj in candidates if isinstance(obj.get("headline"), str)), {})


def _json_objects(data: object, depth: int = 0) -> Iterator[dict[str, object]]:
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            yield from _json_objects(item, depth + 1)
    elif isinstance(data, dict):
        yield data
        graph = data.get("@graph")
        if graph is not None:
            yield from _json_objects(graph, depth + 1)


def _authors(value: object) -> str | None:
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip() and not name.startswith("http"):
            cleaned = " ".join(name.split())
            if cleaned not in names:
                names.append(cleaned)
    return "; ".join(names) or None


def _human_author(value: str | None) -> str | None:
    if not value or value.startswith("http"):
        return None
    return " ".join(value.split())


def _language(tree: HtmlElement, metas: dict[str, str], article: dict[str, object]) -> str | None:
    in_language = article.get("inLanguage")
    for candidate in (
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        metas.get("content-language"),
        metas.get("og:locale"),
        in_language if isinstance(in_language, str) else None,
    ):
        if candidate and candidate.strip():
            primary = re.split(r"[-_,;\s]", candidate.strip().lower())[0]
            if 2 <= len(primary) <= 3 and primary.isalpha():
                return primary
    return None


def _first_text(*values: object) -> str | None:
    """The first non-blank string, entities decoded (JSON-LD often carries ``&quot;``),
    soft hyphens and zero-width spaces dropped, whitespace collapsed."""
    for value in values:
        if isinstance(value, str):
            decoded = html.unescape(value) if "&" in value else value
            cleaned = " ".join(decoded.replace("\xad", "").replace("\u200b", "").split())
            if cleaned:
                return cleaned
    return None


def _element_text(tree: HtmlElement, xpath: str) -> str | None:
    found = tree.xpath(xpath)
    return found[0].text_content() if found else None


def _first_attr(tree: HtmlElement, xpath: str) -> str | None:
    found = tree.xpath(xpath)
    return str(found[0]) if found else None


def _is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")
