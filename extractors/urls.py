"""URL identity: normalised links, canonical article URLs and the article id derived from them.

The canonical URL is the unique key of an article. It is the page's own ``rel=canonical`` or
``og:url`` when that points to the same site (registered domain) as the page and not to its
home page, otherwise the final URL after redirects; either way normalised with courlan
(tracking parameters dropped, query sorted, default port and fragment removed, host
lower-cased).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit, urlunsplit

from courlan import normalize_url as courlan_normalize
from courlan.urlutils import get_tldinfo


def normalise_url(url: str) -> str:
    """Normalise a link so that two spellings of one URL compare equal; never raises."""
    stripped = url.strip()
    try:
        normalised = courlan_normalize(stripped, strict=False)
    except ValueError:
        return stripped
    parts = urlsplit(normalised)
    if not parts.scheme or not parts.netloc:
        return stripped
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def canonical_url(
    url: str, *, html_canonical: str | None = None, final_url: str | None = None
) -> str:
    """The article's canonical URL: its declared canonical when on the same site, else the
    final URL after redirects (else ``url``), normalised."""
    landed = final_url or url
    if html_canonical and html_canonical.strip():
        try:
            declared = urljoin(landed, html_canonical.strip())
        except ValueError:
            declared = ""
        if _is_http(declared) and same_site(declared, landed) and not _is_home(declared, landed):
            return normalise_url(declared)
    return normalise_url(landed)


def article_id(canonical: str) -> str:
    """The article key: sha1 hex of the canonical URL."""
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def registered_domain(url: str) -> str | None:
    """``bbc.co.uk`` for ``https://www.bbc.co.uk/news``; the bare host for IPs and localhost."""
    try:
        _, domain = get_tldinfo(url)
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return domain or host or None


def same_site(first: str, second: str) -> bool:
    first_domain = registered_domain(first)
    return first_domain is not None and first_domain == registered_domain(second)


def _is_home(declared: str, landed: str) -> bool:
    """A canonical pointing to the home page from an article page: a CMS misconfiguration
    that would fold every article of the site into one."""
    return urlsplit(declared).path in {"", "/"} and urlsplit(landed).path not in {"", "/"}


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme in {"http", "https"}
