"""Write whole tables to Parquet or CSV files (one file per table), via the relation API
so no path is ever formatted into SQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI reads FORMATS without loading DuckDB
    import duckdb

FORMATS = ("parquet", "csv")


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """User tables of the main schema (the FTS index's internal tables excluded)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' "
        "ORDER BY table_name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def export_tables(
    con: duckdb.DuckDBPyConnection, out_dir: Path, *, fmt: str = "parquet"
) -> dict[str, Path]:
    """Write every table to ``out_dir/<table>.<fmt>``; returns table -> file."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name in table_names(con):
        target = out_dir / f"{name}.{fmt}"
        relation = con.table(name)
        if fmt == "parquet":
            relation.write_parquet(str(target), compression="zstd")
        else:
            relation.write_csv(str(target), header=True)
        written[name] = target
    return written
