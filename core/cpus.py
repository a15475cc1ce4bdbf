"""How many CPUs this process may really use: its affinity mask, capped by a cgroup quota.

``os.cpu_count()`` counts the machine's CPUs, not the ones a container or ``taskset``
grants: a pool that size oversubscribes. ``available_cpus()`` is the smaller of the
affinity mask (``os.sched_getaffinity``) and the cgroup CPU quota (cgroup v2 ``cpu.max``,
else v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded up, at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    quota = cgroup_quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of the cgroup quota (e.g. 1.5), or None when there is none."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            return _ratio(parts[0], parts[1])
        return None
    quota = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    period = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if quota is None or period is None or quota.strip().startswith("-"):
        return None
    return _ratio(quota, period)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        value, length = int(quota), int(period)
    except ValueError:
        return None
    return value / length if value > 0 and length > 0 else None
