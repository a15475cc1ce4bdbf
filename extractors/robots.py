"""robots.txt policy (RFC 9309), pure: a fetch outcome in, an allow/deny answer out.

- 2xx: the rules in the body apply, parsed with protego (Scrapy's parser, which implements
  RFC 9309: ``*`` and ``$`` wildcards, and the longest matching rule wins, ``Allow``
  winning a tie). ``urllib.robotparser`` does neither: it lets ``/a.pdf`` through
  ``Disallow: /*.pdf$`` and takes the first matching rule, not the most specific.
- 4xx (except 429): "unavailable", crawling is allowed.
- 429, 5xx, or no answer at all (network error): "unreachable", everything is disallowed.

``newswatch.extractors.http.Fetcher`` fetches robots.txt once per origin and caches the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

MAX_ROBOTS_BYTES = 1024 * 1024  # RFC 9309 asks parsers to read at least 500 KiB


@dataclass(frozen=True)
class RobotsPolicy:
    """Whether an origin's robots.txt lets us fetch a URL, and why not."""

    allow_all: bool = False
    disallow_all_reason: str | None = None
    rules: Protego | None = None

    def refusal(self, url: str, user_agent: str) -> str | None:
        """None when ``url`` may be fetched, else the reason it may not."""
        if self.disallow_all_reason is not None:
            return self.disallow_all_reason
        if self.allow_all or self.rules is None:
            return None
        if self.rules.can_fetch(url, user_agent):
            return None
        return "disallowed by robots.txt"


def policy_from_response(status: int, body: bytes) -> RobotsPolicy:
    """The policy for a robots.txt answered with ``status`` and ``body``."""
    if 200 <= status < 300:
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return RobotsPolicy(rules=Protego.parse(text))
    if status == 429 or status >= 500:
        return unreachable_policy(f"HTTP {status}")
    if 400 <= status < 500:
        return RobotsPolicy(allow_all=True)
    return unreachable_policy(f"unexpected HTTP {status}")


def unreachable_policy(reason: str) -> RobotsPolicy:
    """Everything disallowed because robots.txt could not be read (RFC 9309 §2.3.1.4)."""
    return RobotsPolicy(disallow_all_reason=f"robots.txt unavailable ({reason})")
