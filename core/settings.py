"""All knobs in one frozen value object, with visible defaults.

Precedence: explicit arguments > environment (``NEWSWATCH_*``) > defaults.
Nothing reads ``os.environ`` at import time.

Where the database lives (the data home) follows one rule, whatever the working directory,
and ``Settings.from_env`` makes the path absolute once, at startup: ``--db PATH``, else
``$NEWSWATCH_DB``, else ``$NEWSWATCH_HOME/newswatch.duckdb``, else
``data/newswatch.duckdb`` in the newswatch checkout being run (the README's editable
install), else ``$XDG_DATA_HOME/newswatch/newswatch.duckdb`` (``~/.local/share/newswatch``).
Staging, the snapshot and ``file://`` alert files live beside the database.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path

from newswatch.core.cpus import available_cpus

# The directory holding the installed ``newswatch/`` package: the checkout itself in the
# README's editable install (see is_checkout), site-packages in a wheel install. (This file
# is core/settings.py in a checkout but newswatch/core/settings.py in a wheel, so the root
# comes from the newswatch package, not from this file's parents.)
REPO_ROOT = Path(str(resources.files("newswatch"))).resolve().parent


def _package_dir(package: str) -> Path:
    """A package's data as a real directory. pip installs packages as files, so this is
    the package's own folder (``seeds/`` in a checkout, ``site-packages/newswatch/seeds``
    from a wheel); a zipped install is extracted once, for the life of the process."""
    root = resources.files(package)
    if isinstance(root, Path):
        return root
    stack = ExitStack()
    atexit.register(stack.close)
    return Path(stack.enter_context(resources.as_file(root)))


SEEDS_DIR = _package_dir("newswatch.seeds")
SAMPLE_DIR = SEEDS_DIR / "sample"
DEFAULT_SOURCES = SEEDS_DIR / "sources.toml"
DEFAULT_ENTITIES = SEEDS_DIR / "entities.toml"
DEFAULT_ALERTS = SEEDS_DIR / "alerts.toml"

ENV_PREFIX = "NEWSWATCH_"
DB_FILENAME = "newswatch.duckdb"
DATA_HOME_RULE = (
    "--db PATH, else $NEWSWATCH_DB, else $NEWSWATCH_HOME/newswatch.duckdb, else "
    "data/newswatch.duckdb in the newswatch checkout being run, else "
    "$XDG_DATA_HOME/newswatch/newswatch.duckdb (default ~/.local/share/newswatch)"
)


@dataclass(frozen=True)
class Settings:
    """Settings that shape fetching, extraction and storage."""

    # Settings() alone keeps these relative defaults; every command and flow builds its
    # settings with from_env, which applies the data-home rule and makes them absolute.
    db_path: Path = Path("data/newswatch.duckdb")
    data_dir: Path = Path("data")
    db_origin: str = "default"  # which step of DATA_HOME_RULE chose db_path
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch; topic monitor)"
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # hard deadline for one request, body included
    max_body_bytes: int = 10 * 1024 * 1024  # after decompression
    max_redirects: int = 5
    max_connections: int = 16
    max_per_host: int = 4
    retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    respect_robots: bool = True
    # Hosts/networks allowed despite the SSRF guard, e.g. ("127.0.0.1",) for tests and the
    # offline sample. Empty: every private/loopback/link-local address is refused.
    allow_private: tuple[str, ...] = ()
    extract_workers: int = 0  # 0 = the CPUs this process may use (core/cpus.py)
    feed_parse_timeout: float = 20.0
    max_entries_per_feed: int = 500
    # adaptive polling (newswatch watch): a healthy feed's next poll is clamped to this range
    min_poll_interval: float = 300.0  # seconds
    max_poll_interval: float = 6 * 3600.0  # seconds
    # a flow run waits this long for the data directory's writer lock, then ends Failed
    writer_lock_wait: float = 30.0  # seconds (the same patience as a held DuckDB file)
    # a load (or snapshot publish) waits this long for a DuckDB file another process holds,
    # then leaves its batch staged; a run's reads wait at most 5 s of it (flows/stages.py)
    db_lock_wait: float = 30.0  # seconds
    # politeness (extractors/http.py, feed_state.py): a 429 pauses its host for at most
    # max_host_pause s; a Retry-After defers only its own feed, for at most max_retry_after s;
    # a feed answering 404 on every poll for retire_after_404_days is retired (410 at once)
    max_host_pause: float = 60.0
    max_retry_after: float = 24 * 3600.0
    retire_after_404_days: float = 7.0
    # Google News (extractors/gnews.py): where its article pages and batchexecute call live
    # (tests point it at a local stand-in), and at most this many link decodes per second
    gnews_base_url: str = "https://news.google.com"
    gnews_decodes_per_second: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``NEWSWATCH_*`` variables, then apply explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        origin = ""
        for f in fields(cls):
            if f.name == "db_origin":
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None and f.name == "db_path":
                raw = env.get("NEWSWATCH_DB")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, raw, cls)
        if "db_path" in values:
            origin = "$NEWSWATCH_DB"
        explicit = {k: v for k, v in overrides.items() if v is not None}
        if "db_path" in explicit:
            origin = "--db"
        values.update(explicit)
        if "db_path" in values:
            values["db_path"] = _absolute(Path(str(values["db_path"])))
        else:
            values["db_path"], origin = default_db_path(env)
        values["db_origin"] = origin
        # staging, snapshots and alert files live beside the chosen database
        db_dir = Path(str(values["db_path"])).parent
        values["data_dir"] = _absolute(Path(str(values.get("data_dir", db_dir))))
        # each value has its field's type (_coerce converts by the default's type; overrides
        # come typed from the caller), which mypy cannot follow through a str -> object dict
        return replace(cls(), **values)  # type: ignore[arg-type]

    @property
    def workers(self) -> int:
        return self.extract_workers or available_cpus()

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def snapshot_path(self) -> Path:
        """The read-only copy analysts open; published after every load."""
        return default_snapshot_path(self.db_path)


def default_snapshot_path(db_path: Path) -> Path:
    """Where the snapshot of ``db_path`` lives, the one rule for writer and readers:
    ``data/newswatch.duckdb`` -> ``data/newswatch.snapshot.duckdb``, ``x.db`` -> ``x.snapshot.db``.
    """
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}.snapshot{db_path.suffix}")


def default_db_path(env: Mapping[str, str], checkout: Path = REPO_ROOT) -> tuple[Path, str]:
    """The database path when neither ``--db`` nor ``NEWSWATCH_DB`` names one, and which
    step of :data:`DATA_HOME_RULE` chose it. Never depends on the working directory
    (except that a relative ``NEWSWATCH_HOME`` is taken from it, once)."""
    home = env.get("NEWSWATCH_HOME", "").strip()
    if home:
        return _absolute(Path(home) / DB_FILENAME), "$NEWSWATCH_HOME"
    if is_checkout(checkout):
        return checkout / "data" / DB_FILENAME, f"the newswatch checkout {checkout}"
    xdg = env.get("XDG_DATA_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec ignores a relative value
        base = Path(xdg)
    else:
        base = Path(env.get("HOME") or Path.home()) / ".local" / "share"
    return base / "newswatch" / DB_FILENAME, "the user data directory"


def is_checkout(root: Path) -> bool:
    """Whether ``root`` is a newswatch source checkout (the package runs from it, as the
    README's ``pip install -e .`` does), not an installed copy in site-packages."""
    try:
        project = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False
    return (root / "seeds").is_dir() and 'name = "newswatch"' in project


def missing_database_message(settings: Settings) -> str:
    """What to tell a reader whose database does not exist: the path, which step of the
    rule chose it, the rule, and how to create or point at one."""
    return (
        f"no database at {settings.db_path} (from {settings.db_origin}; the database is "
        f"{DATA_HOME_RULE}): run `newswatch run` first, or set NEWSWATCH_HOME to the folder "
        "of an existing newswatch.duckdb, or pass --db FILE"
    )


def _absolute(path: Path) -> Path:
    """Absolute, ``~`` expanded, ``..`` folded; symlinks kept (not ``resolve``)."""
    return Path(os.path.abspath(path.expanduser()))


def _coerce(name: str, raw: str, cls: type[Settings]) -> object:
    default = getattr(cls(), name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw
