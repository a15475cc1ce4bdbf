"""Writing a result where the analyst asked: a table on the terminal, CSV, JSON (an array of
objects) or Parquet, to stdout or ``--out``. Files are written from Python (pyarrow, csv,
json), never by DuckDB, so this works on a connection cut off from the file system."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from newswatch.core.errors import NewswatchError

if TYPE_CHECKING:
    import duckdb
    from rich.console import Console

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
        _write_text(columns, rows, fmt, sys.stdout, width=terminal_width())
        return
    with open(out, "w", encoding="utf-8", newline="") as handle:
        _write_text(columns, rows, fmt, handle)


def _write_text(
    columns: list[str],
    rows: Sequence[tuple[object, ...]],
    fmt: str,
    stream: TextIO,
    width: int | None = None,
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
        _write_table(columns, rows, stream, width)


def _write_table(
    columns: list[str],
    rows: Sequence[tuple[object, ...]],
    stream: TextIO,
    width: int | None = None,
) -> None:
    """A table of ``rows`` no wider than ``width`` (None: as wide as its cells): one line per
    row, long cells cut with an ellipsis; the columns that do not fit at their minimum width
    are dropped and named on a line below (as the duckdb CLI does)."""
    from rich.table import Table
    from rich.text import Text

    cells = [[_cell(v) for v in row] for row in rows]
    layout = fit_columns(columns, cells, width)
    table = Table(show_lines=False)
    for index, column_width in layout.items():
        table.add_column(
            Text(columns[index]), width=column_width, no_wrap=True, overflow="ellipsis"
        )
    for row in cells:
        table.add_row(*(Text(row[index]) for index in layout))
    pipe_console(stream, width=_table_width(layout), color_system=None).print(table)
    stream.write(f"{len(rows)} row(s)\n")
    hidden = [name for index, name in enumerate(columns) if index not in layout]
    if hidden:
        stream.write(f"{hidden_note(hidden)}\n")


def pipe_console(file: TextIO | None = None, **options: Any) -> Console:
    """A rich Console whose closed pipe raises ``BrokenPipeError`` like any other write
    (rich's own answer is ``SystemExit(1)``), so the CLI ends every command the same way
    when the reader goes (``newswatch.cli``: exit 141, no traceback)."""
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _PipeConsole(file=file, **options)


MIN_COLUMN = 6  # no column is shown narrower than this (or its header, up to MAX_HEADER)
MAX_HEADER = 24
MAX_COLUMN = 60  # a cell wider than this is cut even when the terminal has room
BORDER = 3  # "│ " before each cell and the space after it; plus 1 for the last "│"


def fit_columns(
    columns: list[str], cells: Sequence[Sequence[str]], width: int | None
) -> dict[int, int]:
    """Column index -> content width: the leading columns that fit in ``width`` at their
    minimum width, then the room left shared out towards each column's natural width."""
    natural = [
        min(max([len(name), *(len(row[i]) for row in cells)]), MAX_COLUMN)
        for i, name in enumerate(columns)
    ]
    if width is None:
        return dict(enumerate(natural))
    minimum = [
        min(n, max(MIN_COLUMN, min(len(name), MAX_HEADER)))
        for n, name in zip(natural, columns, strict=True)
    ]
    chosen: dict[int, int] = {}
    used = 1
    for index, least in enumerate(minimum):
        if used + least + BORDER > width and chosen:
            break
        chosen[index] = least
        used += least + BORDER
    spare = width - used
    while spare > 0:
        growing = [i for i in chosen if chosen[i] < natural[i]]
        if not growing:
            break
        share = max(spare // len(growing), 1)
        for index in growing:
            step = min(share, natural[index] - chosen[index], spare)
            chosen[index] += step
            spare -= step
            if spare <= 0:
                break
    return chosen


def hidden_note(hidden: list[str]) -> str:
    names = ", ".join(hidden[:8]) + (", …" if len(hidden) > 8 else "")
    return f"{len(hidden)} more column(s): {names} (use --format csv/json or select fewer columns)"


def terminal_width() -> int:
    """$COLUMNS, else the width of the terminal on stdout or stderr (a pipe to ``head`` or
    ``less`` still fits the terminal it shows on), else 100."""
    import os

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stdout, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            continue
    return 100


def _table_width(layout: dict[int, int]) -> int:
    return sum(layout.values()) + BORDER * len(layout) + 1


def _cell(value: object) -> str:
    if value is None:
        return ""
    return " ".join(str(value).splitlines()) if isinstance(value, str) else str(value)
