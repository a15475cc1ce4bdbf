"""The install is the locked set: constraints.txt covers pyproject, and this venv matches it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from newswatch.cli import main
from newswatch.install_check import canonical, drift, read_lock

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "constraints.txt"


def _direct_requirements() -> list[tuple[str, str]]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    out = []
    for spec in specs:
        name = re.match(r"[A-Za-z0-9._-]+", spec)
        assert name, spec
        out.append((canonical(name.group(0)), spec))
    return out


def test_lock_pins_every_direct_dependency_within_its_range() -> None:
    from packaging.requirements import Requirement

    lock = read_lock(LOCK)
    for name, spec in _direct_requirements():
        assert name in lock, f"{name} is in pyproject.toml but not locked: run scripts/lock"
        assert Requirement(spec).specifier.contains(lock[name], prereleases=True), (
            f"{spec} does not admit the locked {lock[name]}: run scripts/lock"
        )


def test_lock_keeps_sqlalchemy_below_2_1_so_prefect_schedules_fire() -> None:
    major, minor = (int(x) for x in read_lock(LOCK)["sqlalchemy"].split(".")[:2])
    assert (major, minor) < (2, 1)


def test_this_environment_is_the_locked_set() -> None:
    """CI installs with -c constraints.txt, so any drift here means the lock is not applied."""
    assert drift(read_lock(LOCK)) == []


def test_doctor_reports_a_drifted_lock(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "constraints.txt"
    fake.write_text("prefect==0.0.1\nduckdb==1.5.5\n")
    assert main(["doctor", "--lock", str(fake)]) == 1
    out = capsys.readouterr().out
    assert "prefect: locked 0.0.1, installed 3.6.29" in out
    assert "duckdb" not in out.split("differ from")[1]


def test_version_flag_prints_key_versions(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert out.startswith("newswatch 0.1.0")
    assert re.search(r"sqlalchemy\s+2\.0\.", out)


def test_readme_commands_and_ci_install_the_locked_set() -> None:
    """The README's two commands install with the lock, and .ci/run runs the test one."""
    readme = (REPO_ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(commands) == 2, commands
    assert all("-c constraints.txt" in c for c in commands)
    run_cmd, test_cmd = commands
    assert run_cmd.endswith("newswatch run --sample")
    assert test_cmd in (REPO_ROOT / ".ci" / "run").read_text()


def test_the_packaged_lock_is_the_checkout_lock() -> None:
    """A wheel has no checkout, so `newswatch doctor` reads newswatch/constraints.txt, the copy
    scripts/lock writes beside constraints.txt: the two must not drift."""
    from newswatch.install_check import LOCK_FILE

    assert LOCK_FILE == REPO_ROOT / "newswatch" / "constraints.txt"
    assert LOCK_FILE.read_bytes() == LOCK.read_bytes(), "run scripts/lock (or copy the lock)"
