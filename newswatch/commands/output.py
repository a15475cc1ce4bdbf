"""Writing a result where the analyst asked: a table on the terminal, CSV, JSON (an array of
objects) or Parquet, to stdout or ``--out``. Files are written from Python (pyarrow, csv,
json), never by DuckDB, so this works on a connection cut off from the file system."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from newswatch.core.errors import NewswatchError

if TYPE_CHECKING:
    import duckdb

OUTPUT_FORMATS = ("table", "csv", "json", "parquet")


def write_relation(relation: duckdb.DuckDBPyRelation, fmt: str, out: Path | None) -> None:
    """Print or write a query result as a table, CSV, JSON (array of objects) or Parquet.

    Files are written from Python (pyarrow, csv, json), never by DuckDB, so this works on a
    connection that ``lock_down`` cut off from the file system."""
    if fmt == "parquet":
        if out is None:
            raise NewswatchError("--format parquet needs --out FILE")
        import pyarrow.parquet as pq

        pq.write_table(relation.to_arrow_table(), out)
        return
    write_rows(list(relation.columns), relation.fetchall(), fmt, out)


def write_rows(
    columns: list[str], rows: Sequence[tuple[object, ...]], fmt: str, out: Path | None
) -> None:
    if fmt == "parquet":
        if out is None:
            raise NewswatchError("--format parquet needs --out FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = [dict(zip(columns, row, strict=True)) for row in rows]
        pq.write_table(pa.Table.from_pylist(records), out)
        return
    if out is None:
        _write_text(columns, rows, fmt, sys.stdout)
        return
    with open(out, "w", encoding="utf-8", newline="") as handle:
        _write_text(columns, rows, fmt, handle)


def _write_text(
    columns: list[str], rows: Sequence[tuple[object, ...]], fmt: str, stream: TextIO
) -> None:
    if fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        json.dump(records, stream, ensure_ascii=False, indent=1, default=str)
        stream.write("\n")
    else:
        _write_table(columns, rows, stream)


def _write_table(columns: list[str], rows: Sequence[tuple[object, ...]], stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(file=stream, width=max(80, min(200, 24 * len(columns)))).print(table)
    stream.write(f"{len(rows)} row(s)\n")
