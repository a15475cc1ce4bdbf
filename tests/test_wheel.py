"""The built wheel is the whole product: one top-level name (``newswatch``), its seeds and lock
inside, and the console script runs the offline sample from a fresh virtualenv in a
directory outside the checkout (no editable finder, no PYTHONPATH, no checkout data).

How it builds and installs, and why:
- the wheel is built from a copy of the files the build reads (pyproject.toml, README.md and
  the package folders) so that setuptools' ``build/`` and egg-info never land in the checkout;
- with pip's build isolation: the build backend (``setuptools>=77``, pyproject's
  [build-system]) comes from the package index as in ``pip install -e .`` (the locked venv
  has Python's bundled setuptools 65, which cannot read the SPDX ``license`` field, and the
  lock does not pin build tools, so ``--no-build-isolation`` has nothing to build with);
- the fresh venv has no pip of its own (``--without-pip``); this venv's pip installs into it
  (``pip --python``) with ``-c constraints.txt``, so it gets the locked set from the index or
  pip's cache (about 20 s here), nothing from this venv or the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_INPUTS = ("pyproject.toml", "README.md")
# The folders the wheel is built from: newswatch/ and every folder pyproject maps under it.
PACKAGE_FOLDERS = (
    "newswatch",
    *tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ].values(),
)
TIMEOUT = 600

pytestmark = pytest.mark.slow


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in PACKAGE_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=ignore)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)])
    (built,) = dist.glob("newswatch-*.whl")
    return built


def test_the_wheel_has_one_top_level_name_and_carries_its_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
        record = [line.split(",")[0] for line in archive.read(f"{info}/RECORD").decode().split()]
    assert top_level == ["newswatch"]
    assert {name.split("/")[0] for name in record} == {"newswatch", info}
    assert {name.split("/")[0] for name in names} == {"newswatch", info}
    for module in ("extractors/http.py", "warehouse/load.py", "flows/ingest.py", "cli.py"):
        assert f"newswatch/{module}" in names
    seeds = sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in (REPO_ROOT / "seeds").rglob("*")
        if p.is_file() and p.suffix != ".pyc"
    )
    assert seeds and all(f"newswatch/{path}" in names for path in seeds)
    assert "newswatch/constraints.txt" in names


def test_a_fresh_virtualenv_outside_the_checkout_runs_the_sample(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    lock = REPO_ROOT / "constraints.txt"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    _run([*pip, "-c", str(lock), str(wheel)])

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NEWSWATCH_", "PREFECT_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )
    probe = (
        "import importlib.util, newswatch, newswatch.extractors.http as http\n"
        "from newswatch.core import settings\n"
        "from newswatch.install_check import LOCK_FILE\n"
        "print(newswatch.__file__, http.__file__, settings.SAMPLE_DIR, LOCK_FILE, sep='\\n')\n"
        "print(settings.default_db_path({'XDG_DATA_HOME': '/xdg'})[0])\n"
        "print([n for n in ('extractors', 'warehouse', 'flows') if importlib.util.find_spec(n)])\n"
    )
    lines = _run([str(python), "-c", probe], cwd=cwd, env=env).stdout.splitlines()
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = site / "site-packages" / "newswatch"
    assert lines[:4] == [
        str(site / "__init__.py"),
        str(site / "extractors" / "http.py"),
        str(site / "seeds" / "sample"),
        str(site / "constraints.txt"),
    ]
    assert lines[4] == "/xdg/newswatch/newswatch.duckdb"  # not a checkout: the user data dir
    assert lines[5] == "[]"  # no bare top-level packages installed

    db = tmp_path / "x.duckdb"
    run = _run(
        [str(venv / "bin" / "newswatch"), "run", "--sample", "--db", str(db)], cwd=cwd, env=env
    )
    assert "new articles" in run.stdout, run.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        (articles,) = con.sql("SELECT count(*) FROM articles").fetchone() or (0,)
    assert articles >= 40  # the sample has 53 pages
    doctor = _run([str(venv / "bin" / "newswatch"), "doctor"], cwd=cwd, env=env)
    assert f"install matches {site / 'constraints.txt'}" in doctor.stdout
    assert not list(cwd.iterdir())  # nothing written to the working directory
