"""The layers hold: core ← extractors ← warehouse ← flows ← CLI, one direction, and each
third-party library only in the layers allowed to use it.

Read from the import graph of every module (AST: every ``import``/``from ... import``,
function-level imports included), with each folder named by the package pyproject maps it to
(``[tool.setuptools.package-dir]``: ``extractors/`` is ``newswatch.extractors``). An
import-contract tool (import-linter) was tried first: it finds a package by its folder name,
so it cannot see ``extractors/`` as ``newswatch.extractors`` and reports nothing; this check
reads the same mapping the wheel is built from.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Lowest first: a module may import its own layer and any layer before it.
LAYERS = (
    "newswatch.core",
    "newswatch.extractors",
    "newswatch.warehouse",
    "newswatch.flows",
    "newswatch",  # the CLI (newswatch.cli, newswatch.commands, newswatch.report, ...)
)

# Which layers may import a library (its top-level import name). Libraries not named here
# (the standard library, pyarrow, lxml, numpy, ...) are free for every layer but core, which
# may use only the standard library and pyarrow (the table specs' Arrow types).
LIBRARY_LAYERS: Mapping[str, frozenset[str]] = {
    "prefect": frozenset({"newswatch.flows", "newswatch"}),
    "prefect_dask": frozenset({"newswatch.flows"}),
    "duckdb": frozenset({"newswatch.warehouse", "newswatch.flows", "newswatch"}),
    # network libraries and page parsers: only the network package
    **{
        name: frozenset({"newswatch.extractors"})
        for name in (
            "httpx",
            "httpcore",
            "apprise",
            "feedparser",
            "protego",
            "courlan",
            "trafilatura",
            "htmldate",
            "readability",
        )
    },
}
CORE_LIBRARIES = frozenset({"pyarrow"})

# Named exceptions, each with its reason. (module, imported top-level name)
ALLOWED = {
    # Prefect's client raises httpx errors when its API goes away; this module names them so
    # the CLI can say so without importing httpx itself.
    ("newswatch.flows.prefect_api", "httpx"),
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. newswatch.warehouse.load
    target: str  # the absolute name imported, e.g. newswatch.extractors.urls
    line: int
    # `from package import name`: name may be a module or an attribute of the package
    maybe_attribute: bool = False


def package_folders(root: Path) -> dict[str, Path]:
    """Package name -> folder, from pyproject's package list and package-dir mapping."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools.get("package-dir", {})
    folders: dict[str, Path] = {}
    for package in setuptools["packages"]:
        mapped = max((name for name in mapping if package.startswith(name)), key=len, default="")
        if mapped:
            rest = package[len(mapped) :].lstrip(".").split(".") if package != mapped else []
            folders[package] = root / mapping[mapped] / Path(*rest)
        else:
            folders[package] = root / Path(*package.split("."))
    return folders


def module_files(root: Path) -> Iterator[tuple[str, Path]]:
    for package, folder in package_folders(root).items():
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            yield name, path


def imports_of(module: str, path: Path) -> Iterator[Import]:
    is_package = path.stem == "__init__"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            yield Import(module, target, node.lineno)
            for alias in node.names:  # `from newswatch import settings` names a module
                yield Import(module, f"{target}.{alias.name}", node.lineno, True)


def layer_of(name: str) -> int | None:
    """Index in LAYERS of the layer holding ``name`` (the longest matching prefix)."""
    best: int | None = None
    for index, layer in enumerate(LAYERS):
        inside = name == layer or name.startswith(layer + ".")
        if inside and (best is None or len(layer) > len(LAYERS[best])):
            best = index
    return best


def violations(root: Path, known_modules: set[str] | None = None) -> list[str]:
    modules = dict(module_files(root))
    known = set(modules) if known_modules is None else known_modules
    found: list[str] = []
    for module, path in modules.items():
        own = layer_of(module)
        assert own is not None, module
        where = f"{path.relative_to(root)}"
        for imp in imports_of(module, path):
            top = imp.target.split(".")[0]
            if top == "newswatch":
                if imp.target == "newswatch" or (imp.maybe_attribute and imp.target not in known):
                    # the root package (imported by every import of a newswatch module), or
                    # `from newswatch.x import name` where name is not a module: the
                    # module part, newswatch.x, is checked on its own
                    continue
                target_layer = layer_of(imp.target)
                if target_layer is not None and target_layer > own:
                    found.append(
                        f"{where}:{imp.line} ({LAYERS[own]}) imports {imp.target} "
                        f"({LAYERS[target_layer]}), a higher layer"
                    )
                continue
            if (module, top) in ALLOWED:
                continue
            if LAYERS[own] == "newswatch.core":
                if top in LIBRARY_LAYERS or (
                    top not in CORE_LIBRARIES and top not in STDLIB and top != "__future__"
                ):
                    found.append(f"{where}:{imp.line} (newswatch.core) imports {top}")
                continue
            allowed = LIBRARY_LAYERS.get(top)
            if allowed is not None and LAYERS[own] not in allowed:
                found.append(
                    f"{where}:{imp.line} ({LAYERS[own]}) imports {top}, "
                    f"allowed only in {sorted(allowed)}"
                )
    return sorted(set(found))


STDLIB = frozenset(__import__("sys").stdlib_module_names)


def test_no_module_imports_a_higher_layer_or_a_library_outside_its_layers() -> None:
    assert violations(REPO_ROOT) == []


def test_every_installed_module_is_checked() -> None:
    """The walk sees every layer, and modules in each one (a mapping typo would see none)."""
    by_layer: dict[str, int] = {}
    for module, _ in module_files(REPO_ROOT):
        layer = layer_of(module)
        assert layer is not None, module
        by_layer[LAYERS[layer]] = by_layer.get(LAYERS[layer], 0) + 1
    assert set(by_layer) == set(LAYERS)
    assert all(count >= 3 for count in by_layer.values()), by_layer


# The check itself, on a small fake project: each rule fires when broken.
FAKE_PYPROJECT = """
[tool.setuptools]
packages = ["newswatch", "newswatch.core", "newswatch.extractors", "newswatch.warehouse",
            "newswatch.flows"]
[tool.setuptools.package-dir]
"newswatch.core" = "core"
"newswatch.extractors" = "extractors"
"newswatch.warehouse" = "warehouse"
"newswatch.flows" = "flows"
"""


def fake_project(tmp_path: Path, files: Mapping[str, str]) -> Path:
    (tmp_path / "pyproject.toml").write_text(FAKE_PYPROJECT)
    for folder in ("newswatch", "core", "extractors", "warehouse", "flows"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"extractors/a.py": "from newswatch.warehouse import db\n"}, "a higher layer"),
        ({"core/a.py": "import newswatch.extractors.urls\n"}, "a higher layer"),
        ({"warehouse/a.py": "def f():\n    from newswatch.flows import x\n"}, "a higher layer"),
        ({"extractors/a.py": "from .. import flows\n"}, "a higher layer"),
        ({"warehouse/a.py": "import httpx\n"}, "imports httpx"),
        ({"extractors/a.py": "import duckdb\n"}, "imports duckdb"),
        ({"warehouse/a.py": "from prefect import flow\n"}, "imports prefect"),
        ({"core/a.py": "import numpy\n"}, "(newswatch.core) imports numpy"),
        ({"flows/a.py": "import feedparser\n"}, "imports feedparser"),
    ],
)
def test_the_check_catches(tmp_path: Path, files: Mapping[str, str], expected: str) -> None:
    found = violations(fake_project(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_the_check_allows_the_layer_order(tmp_path: Path) -> None:
    root = fake_project(
        tmp_path,
        {
            "core/a.py": "import json\nimport pyarrow\n",
            "extractors/b.py": "import httpx\nfrom newswatch.core import a\n",
            "warehouse/c.py": "import duckdb\nfrom newswatch.extractors.b import thing\n",
            "flows/d.py": "from prefect import flow\nfrom newswatch.warehouse import c\n",
            "newswatch/e.py": "import duckdb\nfrom newswatch.flows import d\n",
        },
    )
    assert violations(root) == []
