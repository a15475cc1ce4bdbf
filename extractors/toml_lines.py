"""Read a TOML config file and find lines in it, for errors that name file, line and field.

``tomllib`` returns plain dicts with no positions, so the loaders of the sources, alerts and
entity files (``sources.py``, ``alerts.py``, ``entities.py``) find the line again in the
text: the header of the n-th ``[[name]]`` table, the line assigning a key inside a table,
the line a parse error points at. Pure text scanning; when a line cannot be found the
answer falls back to the table's header, else line 1, never an exception.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from newswatch.core.errors import ConfigError

# a table or array-of-tables header with bare or dotted keys: [relevance], [[entity]]
_ANY_HEADER = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_.-]+\s*\]\]?\s*(#.*)?$")
_DECODE_LINE = re.compile(r"line (\d+)")


class TomlLines:
    """The lines of one TOML text (1-based line numbers throughout)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def headers(self, name: str) -> list[int]:
        """The line of each ``[[name]]`` header, in order."""
        header = re.compile(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]\s*(#.*)?$")
        return [number for number, line in enumerate(self.lines, 1) if header.match(line)]

    def table_line(self, name: str, index: int, key: str | None = None) -> int:
        """The line assigning ``key`` in the ``index``-th ``[[name]]`` table, else that
        table's header line, else 1."""
        headers = self.headers(name)
        if not 0 <= index < len(headers):
            return 1
        start = headers[index]
        return (self.key_line(key, start) if key else None) or start

    def key_line(self, key: str, start: int = 1) -> int | None:
        """The first line from ``start`` on that assigns ``key`` (``key =``), searching up to
        the next table header; None when there is none."""
        assigns = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(max(start, 1), len(self.lines) + 1):
            line = self.lines[number - 1]
            if number > start and _ANY_HEADER.match(line):
                return None
            if assigns.match(line):
                return number
        return None

    def first(self, pattern: re.Pattern[str]) -> int | None:
        """The first line matching ``pattern``, or None."""
        return next((n for n, line in enumerate(self.lines, 1) if pattern.match(line)), None)

    def table_start(self, line: int) -> int:
        """The header line of the table holding ``line`` (1: the top-level keys)."""
        above = range(min(line, len(self.lines)), 0, -1)
        return next((n for n in above if _ANY_HEADER.match(self.lines[n - 1])), 1)


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], TomlLines]:
    """Parse the TOML file ``path`` (``what`` names it in errors: "sources file").

    Raises ``ConfigError`` ``{path}: cannot read {what}: ...`` when the file cannot be read
    or is not UTF-8, and ``{path}:{line}: invalid TOML: ...`` on a syntax error.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read {what}: not UTF-8 text: {exc}") from exc
    try:
        return tomllib.loads(text), TomlLines(text)
    except tomllib.TOMLDecodeError as exc:
        found = _DECODE_LINE.search(str(exc))
        raise ConfigError(
            f"{path}:{found.group(1) if found else 1}: invalid TOML in {what}: {exc}"
        ) from exc
