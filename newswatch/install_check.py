"""Compare the installed distributions with the lock (``constraints.txt``).

Pure reading of package metadata: no network, no Prefect import. ``newswatch --version``
prints the key versions; ``newswatch doctor`` lists every difference from the lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from newswatch import __version__

# The lock ships inside the package (a wheel has no checkout): newswatch/constraints.txt is
# the copy of the checkout's constraints.txt that scripts/lock writes beside it, and
# tests/test_install_lock.py fails when the two differ.
LOCK_FILE = Path(__file__).resolve().parent / "constraints.txt"
# Shown by --version: the packages whose version changes what a run does or whether
# schedules fire (SQLAlchemy 2.1 stops Prefect 3.6's scheduler).
VERSION_PACKAGES = (
    "prefect",
    "sqlalchemy",
    "fastapi",
    "duckdb",
    "trafilatura",
    "feedparser",
    "httpx",
)
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised project name (``Jinja2`` == ``jinja2``, ``a_b`` == ``a-b``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    """``{canonical name: version}`` for every ``name==version`` line of the lock."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def installed_version(name: str) -> str | None:
    from importlib import metadata  # here: every command imports this module (doctor's help)

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Drift:
    name: str
    locked: str
    installed: str | None  # None: required by the lock's resolution but not installed


def drift(lock: dict[str, str]) -> list[Drift]:
    """Installed packages whose version differs from the lock.

    A locked package that is not installed is reported only when it is one of the key
    packages: the lock also pins packages that only other Python versions need.
    """
    found: list[Drift] = []
    for name, locked in sorted(lock.items()):
        have = installed_version(name)
        if have is None and name not in VERSION_PACKAGES:
            continue
        if have != locked:
            found.append(Drift(name, locked, have))
    return found


def version_lines() -> list[str]:
    lines = [f"newswatch {__version__}"]
    for name in VERSION_PACKAGES:
        lines.append(f"  {name:<12} {installed_version(name) or 'not installed'}")
    return lines
