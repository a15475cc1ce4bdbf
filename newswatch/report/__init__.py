"""The HTML trend report: ``write_report(db_path, out)`` reads the warehouse read-only and
writes one self-contained HTML file (inline CSS and SVG charts, no script, no network).

``warehouse/report_queries.py`` reads the data; ``roles.py`` reads from the entity catalogue
which entities are plotted and which are shown as one; ``svg.py`` draws charts; ``page.py``
assembles the page.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from newswatch.report.page import CHART_COUNT, render_report, safe_href
from newswatch.report.roles import entity_roles
from newswatch.warehouse.report_queries import DEFAULT_WINDOW_WEEKS, ReportData, report_data

__all__ = ["CHART_COUNT", "read_report", "render_report", "safe_href", "write_report"]


def read_report(
    db_path: Path,
    *,
    since: date | None = None,
    weeks: int = DEFAULT_WINDOW_WEEKS,
    catalogue: Path | None = None,
) -> ReportData:
    """The report's data of ``db_path``, entities classified by ``catalogue`` (the bundled
    catalogue by default, the one ingest matches with)."""
    return report_data(db_path, since=since, weeks=weeks, roles=entity_roles(catalogue))


def write_report(
    db_path: Path,
    out: Path,
    *,
    since: date | None = None,
    weeks: int = DEFAULT_WINDOW_WEEKS,
    catalogue: Path | None = None,
) -> ReportData:
    """Render the report of ``db_path`` into ``out`` (written whole, then renamed)."""
    data = read_report(db_path, since=since, weeks=weeks, catalogue=catalogue)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(render_report(data), encoding="utf-8")
    partial.replace(out)
    return data
