"""The one rule for links to the outside, shared by the report and ``newswatch ui``: a link
is drawn only for a plain absolute http(s) URL, percent-encoded as a browser sends it."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

URL_SAFE_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"  # reserved characters and % stay as they are


def safe_href(url: str | None) -> str | None:
    """``url`` when it is a plain absolute http(s) URL, else None (no link is drawn).

    Characters a URL may not hold raw (quotes, angle brackets, non-ASCII) come back
    percent-encoded, as a browser would send them.
    """
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
