"""What a run needs to be reproduced: the settings that shape results and library versions.

Paths, user agent and network plumbing (timeouts, connection pools) are left out: they
change where and how fast a run goes, not what it finds.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import metadata

from newswatch.core.settings import Settings

RESULT_SHAPING_SETTINGS = (
    "max_body_bytes",
    "max_redirects",
    "respect_robots",
    "max_entries_per_feed",
    "min_poll_interval",
    "max_poll_interval",
)
KEY_PACKAGES = ("prefect", "duckdb", "trafilatura", "feedparser", "httpx", "htmldate")


def settings_json(settings: Settings) -> str:
    """The result-shaping settings as a stable JSON object (sorted keys)."""
    values = asdict(settings)
    chosen = {name: values[name] for name in RESULT_SHAPING_SETTINGS if name in values}
    return json.dumps(chosen, sort_keys=True, default=str)


def package_versions(packages: tuple[str, ...] = KEY_PACKAGES) -> str:
    """JSON {package: version} for ``packages`` (null when one is not installed)."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)
