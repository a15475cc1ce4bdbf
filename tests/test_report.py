"""The HTML trend report: data read from a real DuckDB file, page checked as text and in a
real headless Chromium (Debian's ``chromium``; those tests skip only when it is absent).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.settings import default_snapshot_path
from newswatch.report import CHART_COUNT, render_report, safe_href, svg, write_report
from newswatch.warehouse.db import connect
from newswatch.warehouse.report_queries import report_data
from newswatch.warehouse.sample import SAMPLE_END, build_sample_db

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO_ROOT / "data" / "report-screenshot.png"
CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_TITLE = '<script>alert(1)</script> Shahed & "Geran" <b>drones</b>'
HOSTILE_OUTLET = "<img src=x onerror=alert(3)>"
HOSTILE_TERM = "<svg onload=alert(5)>"
QUOTE_BREAKING_URL = 'https://evil.example/a"><script>alert(4)</script>'


def add_hostile_rows(db_path: Path) -> None:
    """Feed-provided strings an attacker controls: titles, outlets, URLs, terms."""
    seen = datetime(SAMPLE_END.year, SAMPLE_END.month, SAMPLE_END.day, 9, tzinfo=UTC)
    rows = [
        ("hostile-1", "javascript:alert(2)", HOSTILE_TITLE, "Reuters"),
        ("hostile-2", QUOTE_BREAKING_URL, "Quote-breaking link", HOSTILE_OUTLET),
    ]
    with connect(db_path) as con:
        for article_id, url, title, outlet in rows:
            con.execute(
                """
                INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, title,
                                      text, first_seen_at, published_day, status, on_topic)
                VALUES (?, 'hostile', ?, ?, ?, ?, 'Shahed drones.', ?, ?, 'ok', true)
                """,
                [article_id, outlet, url, url, title, seen, SAMPLE_END],
            )
            con.execute(
                "INSERT INTO mentions (article_id, entity_id, count, snippet, alias, "
                "published_day) VALUES (?, 'shahed-136', 1, ?, 'Shahed', ?)",
                [article_id, title, SAMPLE_END],
            )
        con.execute(
            "INSERT INTO emerging_terms (term, run_id, count, outlets, example, first_seen_at) "
            "VALUES (?, 'hostile-run', 9, 2, ?, ?)",
            [HOSTILE_TERM, HOSTILE_TITLE, seen],
        )


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path = tmp_path_factory.mktemp("report") / "sample.duckdb"
    build_sample_db(db_path)
    add_hostile_rows(db_path)
    return db_path


@pytest.fixture(scope="module")
def report_html(report_db: Path) -> str:
    return render_report(report_data(report_db))


def chart_count(html: str) -> int:
    return len(re.findall(r'<svg\b[^>]*\bclass="chart"', html))


# --- the page as text ------------------------------------------------------------------


def test_feed_title_with_script_tag_appears_escaped(report_html: str) -> None:
    assert "<script>alert(1)</script>" not in report_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Shahed &amp; " in report_html


def test_no_feed_provided_markup_reaches_the_page(report_html: str) -> None:
    assert "<script" not in report_html
    assert "<img" not in report_html
    assert "<svg onload" not in report_html
    assert "&lt;img src=x onerror=alert(3)&gt;" in report_html
    assert "&lt;svg onload=alert(5)&gt;" in report_html


def test_javascript_url_is_not_linked_and_quotes_stay_inside_href(report_html: str) -> None:
    assert "javascript:" not in report_html.lower()
    assert 'href="https://evil.example/a%22%3E%3Cscript%3Ealert(4)%3C/script%3E"' in report_html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "//evil.example/x",
        "/relative/path",
        "https://",
        "https://exa mple.org/",
        "",
        None,
    ],
)
def test_only_absolute_http_urls_become_links(url: str | None) -> None:
    assert safe_href(url) is None


def test_http_and_https_urls_are_kept_as_given() -> None:
    assert safe_href("https://meduza.io/en/news/2025/03/31/x?a=1&b=2") == (
        "https://meduza.io/en/news/2025/03/31/x?a=1&b=2"
    )
    assert safe_href(" http://example.org/a ") == "http://example.org/a"
    assert (
        safe_href("https://example.org/путь/%41")
        == "https://example.org/%D0%BF%D1%83%D1%82%D1%8C/%41"
    )


def test_page_is_self_contained(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in report_html
    assert not re.search(r"<(script|link|iframe|object|embed|img)\b", report_html)
    assert not re.search(r'\bsrc="', report_html)
    assert "url(" not in report_html  # no stylesheet fetch either


def test_every_section_has_its_chart(report_html: str) -> None:
    assert chart_count(report_html) == CHART_COUNT
    for section in ("trends", "cooccurrence", "shares", "new-stories", "emerging-terms"):
        assert f'<section id="{section}">' in report_html


@pytest.mark.parametrize("peak", [0, 1, 4, 5, 6, 11, 19, 21, 26, 49, 51, 99, 101, 260, 999, 12345])
def test_count_axes_have_whole_ticks_reaching_the_peak(peak: int) -> None:
    top = svg._nice_ceiling(max(peak, 5.0))
    ticks = svg._ticks(top)
    assert ticks[0] == 0 and ticks[-1] == top >= peak
    assert all(float(t).is_integer() for t in ticks)
    assert 4 <= len(ticks) - 1 <= 5


def test_burst_day_is_marked_as_spike(report_db: Path) -> None:
    data = report_data(report_db)
    geran = next(e for e in data.entities if e.entity_id == "geran-2")
    assert SAMPLE_END in {p.day for p in geran.spikes}
    assert 'class="spike"' in render_report(data)


def test_report_spikes_are_the_entity_spikes_macro(report_db: Path) -> None:
    """The report reads its z-score from the documented macro: both name the same days."""
    data = report_data(report_db)
    with connect(report_db, read_only=True) as con:
        macro = {
            (entity, day): z
            for entity, day, z in con.execute(
                "SELECT entity_id, day, z FROM entity_spikes(?)", [data.window.since]
            ).fetchall()
        }
    for entity in data.entities:
        for point in entity.points:
            assert point.z == macro.get((entity.entity_id, point.day), 0)
    spike_days = {(e.entity_id, p.day) for e in data.entities for p in e.spikes}
    assert spike_days and all(macro[key] >= 3 for key in spike_days)


def test_new_stories_are_the_last_week_newest_first(report_db: Path) -> None:
    data = report_data(report_db)
    days = [s.day for s in data.new_stories]
    assert days and days == sorted(days, reverse=True)
    assert min(days) >= data.window.new_since
    assert (SAMPLE_END - data.window.new_since).days == 6


def test_since_limits_the_window(report_db: Path) -> None:
    data = report_data(report_db, since=date(2025, 3, 20))
    assert data.window.since == date(2025, 3, 20)
    assert all(len(e.points) == 12 for e in data.entities)  # 20 to 31 March
    full = report_data(report_db)
    assert data.totals.articles < full.totals.articles


def test_cooccurrence_counts_articles_mentioning_both(report_db: Path) -> None:
    data = report_data(report_db)
    with connect(report_db, read_only=True) as con:
        row = con.execute(
            """
            SELECT count(*) FROM mentions AS a JOIN mentions AS b USING (article_id)
            WHERE a.entity_id = 'geran-2' AND b.entity_id = 'irgc'
              AND a.published_day BETWEEN ? AND ?
            """,
            [data.window.since, data.window.until],
        ).fetchone()
    pair = next(p for p in data.cooccurrence if {p.entity_a, p.entity_b} == {"geran-2", "irgc"})
    assert row is not None and pair.articles == row[0] > 0


def test_report_of_an_empty_database_still_draws_every_chart(tmp_path: Path) -> None:
    db_path = tmp_path / "empty.duckdb"
    connect(db_path).close()
    html = render_report(report_data(db_path))
    assert chart_count(html) == CHART_COUNT
    assert "no data in this window" in html
    assert "No new stories." in html


def test_report_command_writes_the_file(report_db: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "nested" / "report.html"
    code = main(
        ["report", "--db", str(report_db), "--out", str(out), "--since", "2025-03-01", "--live"]
    )
    assert code == 0
    assert chart_count(out.read_text(encoding="utf-8")) == CHART_COUNT
    assert "2025-03-01 to 2025-03-31" in capsys.readouterr().out


def test_report_command_reads_the_snapshot_unless_live(
    report_db: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    live = tmp_path / "newswatch.duckdb"
    shutil.copy(report_db, live)
    connect(default_snapshot_path(live)).close()  # an empty snapshot beside it
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(live), "--out", str(out)]) == 0
    assert ", 0 articles," in capsys.readouterr().out
    assert main(["report", "--db", str(live), "--out", str(out), "--live"]) == 0
    assert f", {report_data(report_db).totals.articles} articles," in capsys.readouterr().out


def test_report_command_on_a_missing_database_fails_cleanly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "none.duckdb"
    code = main(["report", "--db", str(missing), "--out", str(tmp_path / "r"), "--live"])
    assert code == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- the page in headless Chromium -----------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium absent: apt-get install -y chromium (.ci/run installs it)",
)


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


def console_messages(stderr: str) -> list[str]:
    """Messages the page wrote to its console (errors, CSP violations, logs)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_rows(data: bytes) -> Iterator[bytes]:
    """Decoded rows of an 8-bit, non-interlaced RGB/RGBA PNG, as 3-byte RGB pixels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, chunks = 8, []
    width = height = bpp = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour_type not in (2, 6) or interlace:
                raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour_type})")
            bpp = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, bpp)
        previous = line
        yield line if bpp == 3 else b"".join(line[i : i + 3] for i in range(0, stride, 4))


def _unfilter(kind: int, row: bytes, previous: bytes, bpp: int) -> bytes:
    if kind == 0:
        return row
    if kind == 2:  # Up: byte-wise add of two rows, carry-free, as one big integer (SWAR)
        n = len(row)
        low, high = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
        x, p = int.from_bytes(row, "big"), int.from_bytes(previous, "big")
        return (((x & low) + (p & low)) ^ ((x ^ p) & high)).to_bytes(n, "big")
    out = bytearray(row)
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        if kind == 1:
            predicted = a
        elif kind == 3:
            predicted = (a + previous[i]) >> 1
        else:  # Paeth
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            estimate = a + b - c
            pa, pb, pc = abs(estimate - a), abs(estimate - b), abs(estimate - c)
            predicted = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (out[i] + predicted) & 0xFF
    return bytes(out)


@pytest.fixture(scope="module")
def report_file(report_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    write_report(report_db, out)
    return out


@needs_chromium
@pytest.mark.slow
def test_report_renders_in_chromium_with_no_console_messages(
    report_file: Path, tmp_path: Path
) -> None:
    result = run_chromium(report_file, tmp_path / "profile", "--dump-dom")
    assert console_messages(result.stderr) == []
    dom = result.stdout
    assert chart_count(dom) == CHART_COUNT
    assert len(re.findall(r'<circle\b[^>]*class="spike"', dom)) >= 2  # one per line chart
    assert not re.search(r"<(script|img)\b", dom)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text


@needs_chromium
@pytest.mark.slow
def test_console_check_catches_a_failing_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefined_function()</script>")
    result = run_chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("undefined_function" in m for m in console_messages(result.stderr))


@needs_chromium
@pytest.mark.slow
def test_report_screenshot_is_not_blank_and_shows_the_charts(
    report_file: Path, tmp_path: Path
) -> None:
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    result = run_chromium(
        report_file,
        tmp_path / "profile",
        f"--screenshot={SCREENSHOT}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
    )
    assert console_messages(result.stderr) == []
    # the legend swatches of the first series colours are solid blocks of exactly that colour
    wanted = {bytes.fromhex(c.lstrip("#")) for c in ("#4e79a7", "#f28e2b", "#e15759")}
    colours: set[bytes] = set()
    for row in png_rows(SCREENSHOT.read_bytes()):
        colours.update(row[i : i + 3] for i in range(0, len(row), 3))
        if wanted <= colours and len(colours) >= 200:
            break  # enough evidence: stop decoding
    assert wanted <= colours
    assert len(colours) >= 200
