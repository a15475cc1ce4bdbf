"""How the analyst commands open the warehouse: the snapshot published after each load (so
an open analyst session never blocks the scheduled run), or with ``--live`` the main database,
read-only, for one query; and the one rule for ``--out`` (never over the warehouse)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.core.errors import NewswatchError, WarehouseError
from newswatch.core.settings import default_snapshot_path, missing_database_message

if TYPE_CHECKING:
    import duckdb


def add_reader_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument(
        "--live",
        action="store_true",
        help="read the main database (read-only) instead of the published snapshot",
    )


@contextmanager
def open_reader(
    args: argparse.Namespace, *, sealed: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the snapshot, or to the live file with ``--live``;
    ``sealed`` also cuts it off from the file system (for the user's own statements)."""
    from newswatch.warehouse import search
    from newswatch.warehouse.db import connect, is_lake_catalog, lock_down

    settings = settings_from_args(args)
    db_path = settings.db_path
    path = db_path
    lake = is_lake_catalog(db_path)  # read live: a lake never blocks its writer
    if not args.live and not lake:
        snapshot = default_snapshot_path(db_path)
        if snapshot.exists():
            path = snapshot
        elif db_path.exists():
            print(f"newswatch: no snapshot at {snapshot}; reading {db_path}", file=sys.stderr)
    if not path.exists():
        raise WarehouseError(missing_database_message(settings))
    con = connect(path, read_only=True, lock_timeout=10.0)
    try:
        search.load_extension(con)
        if lake:
            from newswatch.warehouse.lake import search_index_path
            from newswatch.warehouse.lake_search import attach_index

            attach_index(con, search_index_path(db_path))
        if sealed:
            readable = list(getattr(args, "allow_read", ()))
            if lake:  # the lake's own catalog and Parquet files stay readable
                from newswatch.warehouse.lake import LakeConfig

                readable += [db_path.parent, Path(LakeConfig.for_path(db_path).data_path)]
            lock_down(con, readable=readable)
        yield con
    finally:
        con.close()


def refuse_warehouse_target(out: Path | None, db_path: Path) -> None:
    """``--out`` may name any file except the warehouse, its snapshot or their WAL files."""
    if out is None:
        return
    target = Path(os.path.abspath(out))
    protected = {db_path, default_snapshot_path(db_path)}
    protected |= {p.with_name(p.name + ".wal") for p in protected}
    if target in protected or (
        target.exists() and any(p.exists() and target.samefile(p) for p in protected)
    ):
        raise NewswatchError(f"refusing to write over the warehouse: --out {out} is {target}")
