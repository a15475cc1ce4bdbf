"""All knobs in one frozen value object, with visible defaults.

Precedence: explicit arguments > environment (``NEWSWATCH_*``) > defaults.
Nothing reads ``os.environ`` at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "seeds"
SAMPLE_DIR = SEEDS_DIR / "sample"
DEFAULT_SOURCES = SEEDS_DIR / "sources.toml"
DEFAULT_ENTITIES = SEEDS_DIR / "entities.toml"
DEFAULT_ALERTS = SEEDS_DIR / "alerts.toml"

ENV_PREFIX = "NEWSWATCH_"


@dataclass(frozen=True)
class Settings:
    """Settings that shape fetching, extraction and storage."""

    db_path: Path = Path("data/newswatch.duckdb")
    data_dir: Path = Path("data")
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
    extract_workers: int = 0  # 0 = os.cpu_count()
    feed_parse_timeout: float = 20.0
    max_entries_per_feed: int = 500
    # adaptive polling (newswatch watch): a healthy feed's next poll is clamped to this range
    min_poll_interval: float = 300.0  # seconds
    max_poll_interval: float = 6 * 3600.0  # seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``NEWSWATCH_*`` variables, then apply explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None and f.name == "db_path":
                raw = env.get("NEWSWATCH_DB")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, raw, cls)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "db_path" in values and "data_dir" not in values:
            # staging, snapshots and alert files live beside the chosen database
            values["data_dir"] = Path(str(values["db_path"])).parent
        return replace(cls(), **values)  # type: ignore[arg-type]

    @property
    def workers(self) -> int:
        return self.extract_workers or os.cpu_count() or 1

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

    @property
    def snapshot_path(self) -> Path:
        """The read-only copy analysts open; published after every load."""
        return self.db_path.with_name(f"{self.db_path.stem}.snapshot{self.db_path.suffix}")


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
