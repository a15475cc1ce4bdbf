"""available_cpus: the affinity mask, capped by a cgroup v2 or v1 quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from newswatch.core.cpus import available_cpus, cgroup_quota
from newswatch.core.settings import Settings

AFFINITY = len(os.sched_getaffinity(0))


def test_no_cgroup_files_means_the_affinity_mask(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path) is None
    assert available_cpus(tmp_path) == AFFINITY


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("50000 100000", 1), ("150000 100000", min(2, AFFINITY)), ("max 100000", AFFINITY)],
)
def test_a_cgroup_v2_quota_caps_the_count(tmp_path: Path, cpu_max: str, expected: int) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert available_cpus(tmp_path) == expected


def test_a_cgroup_v1_quota_caps_the_count_and_minus_one_means_none(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert cgroup_quota(tmp_path) == 1.0
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert available_cpus(tmp_path) == AFFINITY


def test_settings_use_the_available_cpus_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert Settings().workers == 1
    assert Settings(extract_workers=3).workers == 3
