"""The error tree. Extractors raise; flows record and go on; the CLI prints one line.

NewswatchError
├── ConfigError          a sources/entities/alerts file is malformed (names file, line, field)
├── FetchError           a URL could not be fetched
│   ├── TransientFetchError   timeouts, connection errors, 429, 5xx: retry later
│   └── PermanentFetchError   404/410, oversize, refused URL, not a feed: do not retry now
├── FeedError            bytes that are not a usable feed
├── ExtractionEmpty      a page gave no article text
└── WarehouseError
    └── WarehouseLocked  another process holds the DuckDB file
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Base of every error newswatch raises on purpose."""


class ConfigError(NewswatchError):
    """A configuration file is malformed; the message names the file, line and field."""


class FetchError(NewswatchError):
    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class TransientFetchError(FetchError):
    """Worth retrying later: timeouts, connection errors, 429, 5xx."""


class PermanentFetchError(FetchError):
    """Not worth retrying now: 4xx, oversize body, refused address, wrong scheme."""


class FeedError(NewswatchError):
    """Bytes that are not a usable feed."""


class ExtractionEmpty(NewswatchError):
    """A page produced no article text."""


class WarehouseError(NewswatchError):
    """A database operation failed."""


class WarehouseLocked(WarehouseError):
    """Another process holds the DuckDB file lock."""


class PrefectApiLost(NewswatchError):
    """The Prefect API stopped answering during a run (after the client's retries). What was
    staged or loaded is kept; the next run completes it."""
