"""DuckDB extensions from their pip wheels, loaded by file path (never downloaded).

Extensions cannot be downloaded here, and ``newswatch.warehouse.db.open_duckdb`` turns
DuckDB's auto-install and auto-load off, so every extension the warehouse uses comes from a
``duckdb-extension-<name>`` wheel pinned to our duckdb version: the wheel's files list names
one ``.duckdb_extension`` file per duckdb version, found here through
``importlib.metadata``.

DuckDB derives an extension's entry point from the *file name* it loads: the sqlite wheel
ships ``sqlite.duckdb_extension`` whose entry point is ``sqlite_scanner``, so that one is
loaded through a link (or a copy) named ``sqlite_scanner.duckdb_extension`` in a cache folder
(``$XDG_CACHE_HOME/newswatch/duckdb-extensions``, else ``~/.cache/...``), one folder per
wheel file so two installs never share a link.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import duckdb

from newswatch.core.errors import WarehouseError


@dataclass(frozen=True)
class _Wheel:
    distribution: str  # the pip name of the wheel
    entry_point: str  # the file name DuckDB must load it under (without the suffix)


# Extension name (as DuckDB reports it) -> its wheel. Aliases below.
WHEELS: dict[str, _Wheel] = {
    "ducklake": _Wheel("duckdb-extension-ducklake", "ducklake"),
    "sqlite_scanner": _Wheel("duckdb-extension-sqlite", "sqlite_scanner"),
    "postgres_scanner": _Wheel("duckdb-extension-postgres_scanner", "postgres_scanner"),
    "fts": _Wheel("duckdb-extension-fts", "fts"),
}
ALIASES = {"sqlite": "sqlite_scanner", "sqlite3": "sqlite_scanner", "postgres": "postgres_scanner"}
SUFFIX = ".duckdb_extension"


def extension_path(name: str, *, cache_dir: Path | None = None) -> Path:
    """The file to ``LOAD`` for extension ``name`` (``ducklake``, ``sqlite``,
    ``postgres``, ``fts``, or any ``duckdb-extension-<name>`` wheel), for the installed
    duckdb version. Raises :class:`WarehouseError` naming the wheel when it is missing."""
    canonical = ALIASES.get(name, name)
    wheel = WHEELS.get(canonical, _Wheel(f"duckdb-extension-{canonical}", canonical))
    source = _wheel_file(wheel)
    if source.name == wheel.entry_point + SUFFIX:
        return source
    return _alias(source, wheel.entry_point + SUFFIX, cache_dir or default_cache_dir())


def load_extensions(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """``LOAD`` each extension into ``con`` from its wheel's file, in the order given."""
    for name in names:
        path = extension_path(name)
        try:
            con.execute(load_statement(path))
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot load DuckDB extension {name} from {path}: {exc}") from exc


def load_statement(path: Path) -> str:
    """``LOAD '<path>'``, the path quoted as a SQL string literal."""
    return f"LOAD {sql_string(str(path))}"


def sql_string(text: str) -> str:
    """``text`` as a single-quoted SQL literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch" / "duckdb-extensions"


def _wheel_file(wheel: _Wheel) -> Path:
    version = duckdb.__version__
    pin = f"{wheel.distribution}=={version}"
    try:
        dist = metadata.distribution(wheel.distribution)
    except metadata.PackageNotFoundError:
        raise WarehouseError(
            f"DuckDB extension {wheel.entry_point} is not installed: the wheel {pin} is "
            "missing (newswatch never downloads extensions; install the project with "
            "`pip install -c constraints.txt -e .`)"
        ) from None
    candidates = [
        Path(str(dist.locate_file(entry)))
        for entry in dist.files or ()
        if entry.name.endswith(SUFFIX)
    ]
    wanted = [path for path in candidates if path.parent.name == f"v{version}" and path.is_file()]
    if not wanted:
        found = ", ".join(sorted(path.parent.name for path in candidates)) or "none"
        raise WarehouseError(
            f"the wheel {wheel.distribution} {dist.version} has no extension file for duckdb "
            f"v{version} (it has: {found}); install {pin}"
        )
    return wanted[0]


def _alias(source: Path, file_name: str, cache_dir: Path) -> Path:
    """A link named ``file_name`` to ``source`` (a copy where links are refused), created
    atomically so concurrent processes never load a half-made file."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    folder = cache_dir / f"v{duckdb.__version__}" / digest
    target = folder / file_name
    if target.is_file() and _same_file(target, source):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{file_name}.{os.getpid()}.tmp"
    try:
        temporary.unlink(missing_ok=True)
        try:
            temporary.symlink_to(source)
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        raise WarehouseError(
            f"cannot prepare {target} (DuckDB loads {source.name} only under the name "
            f"{file_name}): {exc}"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _same_file(target: Path, source: Path) -> bool:
    if target.is_symlink():
        return target.resolve() == source.resolve()
    return target.stat().st_size == source.stat().st_size
