"""The HTML trend report: ``write_report(db_path, out)`` reads the warehouse read-only and
writes one self-contained HTML file (inline CSS and SVG charts, no script, no network).

``warehouse/report_queries.py`` reads the data; ``svg.py`` draws charts; ``page.py``
assembles the page.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from newswatch.report.page import CHART_COUNT, render_report, safe_href
from newswatch.warehouse.report_queries import ReportData, report_data

__all__ = ["CHART_COUNT", "render_report", "safe_href", "write_report"]


def write_report(db_path: Path, out: Path, *, since: date | None = None) -> ReportData:
    """Render the report of ``db_path`` into ``out`` (written whole, then renamed)."""
    data = report_data(db_path, since=since)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(render_report(data), encoding="utf-8")
    partial.replace(out)
    return data
