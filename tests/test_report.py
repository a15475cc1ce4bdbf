"""The HTML trend report: data read from real DuckDB files (the synthetic sample warehouse,
with anchors added, and the bundled offline sample run through the real ingest flow), page
checked as text, as parsed SVG, and in a real headless Chromium (Debian's ``chromium``;
those tests skip only when it is absent).
"""

from __future__ import annotations

import itertools
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.commands import report as report_command
from newswatch.core.settings import default_snapshot_path
from newswatch.extractors.entities import load_catalogue
from newswatch.report import (
    CHART_COUNT,
    read_report,
    render_report,
    safe_href,
    svg,
    write_report,
)
from newswatch.report.page import ENTITY_COLOR, STORIES_COLOR, one_line
from newswatch.report.roles import DISPLAY_GROUPS
from newswatch.warehouse import report_queries
from newswatch.warehouse.db import connect
from newswatch.warehouse.sample import SAMPLE_END, build_sample_db
from tests.chromium import BASE_FLAGS, CHROMIUM, needs_chromium

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO_ROOT / "data" / "report-screenshot.png"
HOSTILE_TITLE = '<script>alert(1)</script> Shahed & "Geran" <b>drones</b>'
HOSTILE_OUTLET = "<img src=x onerror=alert(3)>"
HOSTILE_TERM = "<svg onload=alert(5)>"
HOSTILE_SUMMARY = "<iframe src=x></iframe> Geran   drones\n over <b>Kyiv</b>"
QUOTE_BREAKING_URL = 'https://evil.example/a"><script>alert(4)</script>'


def add_hostile_rows(db_path: Path) -> None:
    """Feed-provided strings an attacker controls: titles, outlets, URLs, terms."""
    seen = datetime(SAMPLE_END.year, SAMPLE_END.month, SAMPLE_END.day, 9, tzinfo=UTC)
    rows = [
        ("hostile-1", "javascript:alert(2)", HOSTILE_TITLE, "Reuters", HOSTILE_SUMMARY),
        ("hostile-2", QUOTE_BREAKING_URL, "Quote-breaking link", HOSTILE_OUTLET, None),
    ]
    with connect(db_path) as con:
        for article_id, url, title, outlet, summary in rows:
            con.execute(
                """
                INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, title,
                                      text, summary, first_seen_at, published_day, status,
                                      on_topic)
                VALUES (?, 'hostile', ?, ?, ?, ?, 'Shahed drones.', ?, ?, ?, 'ok', true)
                """,
                [article_id, outlet, url, url, title, summary, seen, SAMPLE_END],
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


ANCHORS = (  # catalogue ids, names, types, sides: what real articles are anchored on
    ("russia", "Russia", "country", "russia"),
    ("iran", "Iran", "country", "iran"),
    ("iranian-government", "Islamic Republic of Iran", "government", "iran"),
)


def add_anchor_mentions(db_path: Path) -> None:
    """Russia in every sample article, Iran in every second one and the Islamic Republic of
    Iran in every third (as in real coverage, the anchors lead every count)."""
    with connect(db_path) as con:
        for entity_id, name, kind, side in ANCHORS:
            con.execute(
                "INSERT INTO entities (entity_id, name, type, side) VALUES (?, ?, ?, ?)",
                [entity_id, name, kind, side],
            )
        for entity_id, every in (("russia", 1), ("iran", 2), ("iranian-government", 3)):
            con.execute(
                """
                INSERT INTO mentions (article_id, entity_id, count, snippet, alias, published_day)
                SELECT article_id, ?, 2, 'Russia and Iran', ?, published_day
                FROM (SELECT article_id, published_day,
                             row_number() OVER (ORDER BY article_id) AS n
                      FROM articles WHERE source_id <> 'hostile')
                WHERE n % ? = 0
                """,
                [entity_id, entity_id, every],
            )


@pytest.fixture(scope="module")
def report_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path = tmp_path_factory.mktemp("report") / "sample.duckdb"
    build_sample_db(db_path)
    add_hostile_rows(db_path)
    add_anchor_mentions(db_path)
    return db_path


@pytest.fixture(scope="module")
def report_html(report_db: Path) -> str:
    return render_report(read_report(report_db))


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
    for section in ("weekly", "new-stories", "trends", "cooccurrence", "shares", "emerging-terms"):
        assert f'<section id="{section}">' in report_html


def test_feed_summary_is_one_escaped_line(report_html: str) -> None:
    assert "<iframe" not in report_html
    assert "&lt;iframe src=x&gt;&lt;/iframe&gt; Geran drones over &lt;b&gt;Kyiv&lt;/b&gt;" in (
        report_html
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (None, ""),
        ("  One\n\tline  ", "One line"),
        ("word " * 100, ("word " * 43).strip() + "…"),
        ("x" * 300, "x" * 219 + "…"),
    ],
)
def test_one_line_summaries_collapse_space_and_cut_at_a_word(text: str | None, line: str) -> None:
    assert one_line(text) == line
    assert len(one_line(text)) <= 220


@pytest.mark.parametrize("peak", [0, 1, 4, 5, 6, 11, 19, 21, 26, 49, 51, 99, 101, 260, 999, 12345])
def test_count_axes_have_whole_ticks_reaching_the_peak(peak: int) -> None:
    top = svg._nice_ceiling(max(peak, 5.0))
    ticks = svg._ticks(top)
    assert ticks[0] == 0 and ticks[-1] == top >= peak
    assert all(float(t).is_integer() for t in ticks)
    assert 4 <= len(ticks) - 1 <= 5


# --- the charts, parsed ----------------------------------------------------------------


@dataclass
class Chart:
    """One ``<svg class="chart">`` of a page, as the parser saw it."""

    label: str
    attrs: dict[str, str]
    polylines: list[int] = field(default_factory=list)  # points of each polyline
    series: list[tuple[str, str]] = field(default_factory=list)  # (data-entity-id, label)
    bars: list[tuple[str, int]] = field(default_factory=list)  # (data-week, data-value)
    dates: list[date] = field(default_factory=list)  # ISO dates printed on the chart


class ChartParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.charts: list[Chart] = []
        self._depth = 0  # svg nesting
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "svg" and "chart" in values.get("class", "").split():
            self.charts.append(Chart(values.get("aria-label", ""), values))
            self._depth = 1
            return
        if not self._depth:
            return
        chart = self.charts[-1]
        if tag == "svg":
            self._depth += 1
        elif tag == "polyline":
            chart.polylines.append(len(values.get("points", "").split()))
        elif tag == "g" and "series" in values.get("class", "").split():
            chart.series.append((values.get("data-entity-id", ""), values.get("data-label", "")))
        elif tag == "rect" and "bar" in values.get("class", "").split() and "data-week" in values:
            chart.bars.append((values["data-week"], int(values["data-value"])))
        elif tag == "text":
            self._in_text = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self._depth:
            self._depth -= 1
        elif tag == "text":
            self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._depth and self._in_text and re.fullmatch(r"\d{4}-\d{2}-\d{2}", data.strip()):
            self.charts[-1].dates.append(date.fromisoformat(data.strip()))


def parse_charts(html: str) -> list[Chart]:
    parser = ChartParser()
    parser.feed(html)
    return parser.charts


def daily_lines_over_a_month(charts: list[Chart]) -> list[str]:
    """Charts drawing a line per series at a finer grain than weekly over more than 31 days:
    the x axis's span is read from the dates printed on it (and its ``data-x-*``), the grain
    from the points of each polyline."""
    found = []
    for chart in charts:
        if not chart.polylines:
            continue
        days = list(chart.dates)
        for key in ("data-x-from", "data-x-to"):
            if key in chart.attrs:
                days.append(date.fromisoformat(chart.attrs[key]))
        span = (max(days) - min(days)).days if days else 0
        finer_than_weeks = any(points - 1 > span / 7 + 1 for points in chart.polylines)
        daily = chart.attrs.get("data-x-unit") == "day" or finer_than_weeks
        if span > 31 and daily:
            found.append(f"{chart.label}: {len(chart.polylines)} lines over {span} days")
    return found


def topic_specific_ids() -> set[str]:
    """The bundled catalogue's own word (read here directly, not through the report)."""
    return {e.id for e in load_catalogue().entities if e.topic_specific}


def plotted_ids(charts: list[Chart]) -> set[str]:
    return {entity_id for chart in charts for entity_id, _ in chart.series}


def test_the_daily_line_check_catches_the_old_chart() -> None:
    """The check below is not vacuous: a chart like the old "Mentions per day" (one polyline
    per entity, a point per day, 42 days, ISO dates on its axis) is caught."""
    days = [SAMPLE_END - timedelta(days=41 - i) for i in range(42)]
    points = " ".join(f"{10 + 20 * i},{100 - i % 3}" for i in range(len(days)))
    old = (
        '<svg class="chart" aria-label="Mentions per day per entity">'
        + "".join(f"<text>{d.isoformat()}</text>" for d in days[::7])
        + '<g class="series" data-label="Russia"><polyline points="'
        + points
        + '"></polyline></g></svg>'
    )
    assert daily_lines_over_a_month(parse_charts(old)) == [
        "Mentions per day per entity: 1 lines over 35 days"
    ]
    weekly = old.replace(points, " ".join(f"{i},{i}" for i in range(7)))
    assert daily_lines_over_a_month(parse_charts(weekly)) == []


def test_no_daily_line_chart_over_a_month_and_no_anchor_plotted(report_html: str) -> None:
    charts = parse_charts(report_html)
    assert len(charts) == CHART_COUNT
    assert daily_lines_over_a_month(charts) == []
    plotted = plotted_ids(charts)
    # what is plotted is topic-specific by the catalogue; the anchors, which lead every count
    # of this file, are not
    assert plotted == {"shahed-136", "geran-2"} <= topic_specific_ids()
    assert not plotted & {entity_id for entity_id, *_ in ANCHORS}
    labels = {label for chart in charts for _, label in chart.series}
    assert labels and not labels & {name for _, name, *_ in ANCHORS}


def test_anchors_are_summarised_with_iran_and_its_government_as_one(report_db: Path) -> None:
    data = read_report(report_db)
    context = {e.entity_id: e for e in data.context_entities}
    assert list(context)[:2] == ["russia", "iran"]  # the most stories of all
    assert "iranian-government" not in context
    iran = context["iran"]
    assert iran.member_ids == ("iran", "iranian-government")
    assert iran.member_names == ("Islamic Republic of Iran",)
    with connect(report_db, read_only=True) as con:
        row = con.execute(
            """
            SELECT count(DISTINCT coalesce(a.story_id, a.article_id)), sum(m.count)
            FROM mentions AS m JOIN articles AS a USING (article_id)
            WHERE m.entity_id IN ('iran', 'iranian-government')
              AND m.published_day BETWEEN ? AND ?
            """,
            [data.window.since, data.window.until],
        ).fetchone()
    assert row is not None and (iran.stories, iran.mentions) == (row[0], row[1])
    assert sum(w.stories for w in iran.weeks) >= iran.stories  # a story may span two weeks
    html = render_report(data)
    assert "Iran (with Islamic Republic of Iran)" in html
    assert ">Islamic Republic of Iran<" not in html  # never a row or a label of its own


def test_display_groups_pair_a_government_with_its_country() -> None:
    by_id = load_catalogue().by_id()
    for government, country in DISPLAY_GROUPS.items():
        assert by_id[government].type == "government", government
        assert by_id[country].type == "country", country
        assert by_id[government].side == by_id[country].side, government
        assert not by_id[government].topic_specific and not by_id[country].topic_specific


def test_weekly_bars_are_the_stories_of_each_week(report_db: Path, report_html: str) -> None:
    data = read_report(report_db)
    weekly = next(c for c in parse_charts(report_html) if c.attrs["aria-label"].startswith("On-"))
    assert weekly.attrs["data-x-unit"] == "week"
    starts = [date.fromisoformat(week) for week, _ in weekly.bars]
    assert starts == [w.start for w in data.window.weeks] and len(starts) == 6
    assert all((b - a).days == 7 for a, b in itertools.pairwise(starts))
    assert data.window.weeks[-1].end == SAMPLE_END == date.fromisoformat(weekly.attrs["data-x-to"])
    with connect(report_db, read_only=True) as con:
        for (week, value), bucket in zip(weekly.bars, data.window.weeks, strict=True):
            row = con.execute(
                "SELECT count(DISTINCT coalesce(story_id, article_id)) FROM articles "
                "WHERE on_topic AND published_day BETWEEN ? AND ?",
                [bucket.start, bucket.end],
            ).fetchone()
            assert row is not None and value == row[0] > 0, week
    panels = next(c for c in parse_charts(report_html) if c.series)
    assert panels.attrs["data-x-unit"] == "week"
    assert len(panels.bars) == len(panels.series) * len(data.window.weeks)


def test_burst_day_is_marked_as_spike(report_db: Path) -> None:
    data = read_report(report_db)
    geran = next(e for e in data.topic_entities if e.entity_id == "geran-2")
    assert SAMPLE_END in {s.day for s in geran.spikes}
    html = render_report(data)
    marked = {
        (e.entity_id, data.window.week_index(s.day)) for e in data.topic_entities for s in e.spikes
    }
    assert len(re.findall(r'<circle\b[^>]*class="spike"', html)) == len(marked) > 0


def test_report_spikes_are_the_entity_spikes_macro(report_db: Path) -> None:
    """The report reads its spikes from the documented macro: both name the same days."""
    data = read_report(report_db)
    with connect(report_db, read_only=True) as con:
        macro = {
            (entity, day)
            for entity, day in con.execute(
                "SELECT entity_id, day FROM entity_spikes(?) WHERE z >= 3 AND articles >= 3",
                [data.window.since],
            ).fetchall()
        }
    shown = {m for e in data.topic_entities for m in e.member_ids}
    report = {(s.entity_id, s.day) for e in data.topic_entities for s in e.spikes}
    assert report and report == {key for key in macro if key[0] in shown}


def test_new_stories_are_the_last_week_newest_first(report_db: Path, report_html: str) -> None:
    data = read_report(report_db)
    days = [s.day for s in data.new_stories]
    assert days and days == sorted(days, reverse=True)
    assert min(days) >= data.window.new_since == data.window.weeks[-1].start
    assert (SAMPLE_END - data.window.new_since).days == 6
    story = data.new_stories[0]
    assert story.outlet_names and story.summary
    assert "<h2>New this week</h2>" in report_html


def test_default_window_is_the_whole_data_when_it_spans_less(report_db: Path) -> None:
    data = read_report(report_db)  # 42 days of data, default 26 weeks
    assert data.window.since == data.window.data_first == SAMPLE_END - timedelta(days=41)
    assert data.window.articles_before == 0
    assert data.totals.articles == data.window.data_articles
    assert "That is all of the data (2025-02-18 to 2025-03-31" in render_report(data)


def test_a_shorter_window_states_what_it_leaves_out(report_db: Path) -> None:
    data = read_report(report_db, weeks=2)
    assert (data.window.since, data.window.until) == (date(2025, 3, 18), SAMPLE_END)
    assert [w.days for w in data.window.weeks] == [7, 7]
    with connect(report_db, read_only=True) as con:
        row = con.execute("SELECT count(*) FROM articles WHERE published_day < '2025-03-18'")
        before = row.fetchone()
    assert before is not None and data.window.articles_before == before[0] > 0
    header = render_report(data).split("<h2>", 1)[0]
    assert (
        f"leaves out {before[0]} of its {data.window.data_articles} articles, published before "
        "2025-03-18; --since 2025-02-18 covers them all" in header
    )


def test_since_limits_the_window(report_db: Path) -> None:
    data = read_report(report_db, since=date(2025, 3, 20))
    assert data.window.since == date(2025, 3, 20) and not data.window.default
    assert [w.days for w in data.window.weeks] == [5, 7]  # 20 to 24 March, 25 to 31
    assert all(len(e.weeks) == 2 for e in data.entities)
    full = read_report(report_db)
    assert data.totals.articles < full.totals.articles
    assert "from --since: 2 weeks, the first 5 days long" in render_report(data)


def test_cooccurrence_counts_articles_mentioning_both(report_db: Path) -> None:
    data = read_report(report_db)
    with connect(report_db, read_only=True) as con:
        row = con.execute(
            """
            SELECT count(DISTINCT a.article_id)
            FROM mentions AS a JOIN mentions AS b USING (article_id)
            WHERE a.entity_id = 'geran-2' AND b.entity_id IN ('iran', 'iranian-government')
              AND a.published_day BETWEEN ? AND ?
            """,
            [data.window.since, data.window.until],
        ).fetchone()
    pair = next(p for p in data.cooccurrence if {p.entity_a, p.entity_b} == {"geran-2", "iran"})
    assert row is not None and pair.articles == row[0] > 0


def test_report_of_an_empty_database_still_draws_every_chart(tmp_path: Path) -> None:
    db_path = tmp_path / "empty.duckdb"
    connect(db_path).close()
    html = render_report(read_report(db_path))
    assert chart_count(html) == CHART_COUNT
    assert "no data in this window" in html
    assert "No new stories." in html
    assert "The warehouse holds no article yet." in html


def test_report_command_writes_the_file(report_db: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "nested" / "report.html"
    code = main(
        ["report", "--db", str(report_db), "--out", str(out), "--since", "2025-03-01", "--live"]
    )
    assert code == 0
    assert chart_count(out.read_text(encoding="utf-8")) == CHART_COUNT
    printed = capsys.readouterr().out
    assert "2025-03-01 to 2025-03-31, 5 weeks" in printed
    assert "earlier articles left out; the data starts 2025-02-18" in printed


def test_report_command_default_weeks_is_the_queries_default() -> None:
    assert report_command.DEFAULT_WINDOW_WEEKS == report_queries.DEFAULT_WINDOW_WEEKS


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
    assert f", {read_report(report_db).totals.articles} articles," in capsys.readouterr().out


def test_report_command_on_a_missing_database_fails_cleanly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "none.duckdb"
    code = main(["report", "--db", str(missing), "--out", str(tmp_path / "r"), "--live"])
    assert code == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- the page in headless Chromium -----------------------------------------------------

CHROMIUM_FLAGS = (
    *BASE_FLAGS,
    "--enable-logging=stderr",
    "--v=0",
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


@pytest.fixture(scope="module")
def sample_run_db(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled offline sample (53 pages over 170 days, the real catalogue's entities)
    served on 127.0.0.1 and loaded by the real ingest flow."""
    from newswatch.flows.ingest import ingest
    from newswatch.sample import serve_sample, write_sample_sources

    tmp = tmp_path_factory.mktemp("sample-run")
    db = tmp / "news.duckdb"
    with serve_sample() as base:
        sources = write_sample_sources(base, tmp / "sources.toml")
        ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"])
    return db


@pytest.fixture(scope="module")
def sample_report(sample_run_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample-page") / "report.html"
    write_report(sample_run_db, out)
    return out


@pytest.mark.slow
def test_sample_run_report_is_weekly_over_all_the_data_with_anchors_summarised(
    sample_run_db: Path, sample_report: Path
) -> None:
    data = read_report(sample_run_db)
    html = sample_report.read_text(encoding="utf-8")
    # the whole sample, said so at the top (the 90-day default kept 27 of its 53 articles)
    assert (data.window.since, data.window.until) == (date(2026, 6, 3), date(2026, 11, 20))
    assert data.totals.articles == data.window.data_articles == 53
    header = html.split("<h2>", 1)[0]
    assert "Window: 2026-06-03 to 2026-11-20 (25 weeks, the first 3 days long)" in header
    assert "That is all of the data (2026-06-03 to 2026-11-20, 53 articles)" in header
    charts = parse_charts(html)
    assert daily_lines_over_a_month(charts) == []
    weekly = [c for c in charts if c.attrs.get("data-x-unit") == "week"]
    assert len(weekly) == 2 and all(c.bars for c in weekly)
    assert len(weekly[0].bars) == 25
    # anchors lead the data but are not plotted; what is plotted is topic-specific
    with connect(sample_run_db, read_only=True) as con:
        leaders = [
            entity_id
            for (entity_id,) in con.execute(
                """
                SELECT entity_id FROM mentions JOIN articles USING (article_id)
                GROUP BY 1 ORDER BY count(DISTINCT coalesce(story_id, article_id)) DESC,
                         entity_id
                LIMIT 4
                """
            ).fetchall()
        ]
    assert leaders == ["russia", "iran", "ukraine", "russian-government"]
    plotted = plotted_ids(charts)
    assert plotted and plotted <= topic_specific_ids()
    assert not plotted & {*leaders, "iranian-government"}
    # Iran and the Islamic Republic of Iran: one summary row, no row or panel of their own
    context = [e.entity_id for e in data.context_entities]
    assert context[:3] == ["russia", "iran", "ukraine"] and "iranian-government" not in context
    assert html.count("Iran (with Islamic Republic of Iran)") >= 1
    assert "<td>Islamic Republic of Iran</td>" not in html
    assert "<td>Kremlin</td>" not in html and "Russia (with Kremlin)" in html


@needs_chromium
@pytest.mark.slow
def test_report_renders_in_chromium_with_no_console_messages(
    report_file: Path, tmp_path: Path
) -> None:
    result = run_chromium(report_file, tmp_path / "profile", "--dump-dom")
    assert console_messages(result.stderr) == []
    dom = result.stdout
    assert chart_count(dom) == CHART_COUNT
    assert len(re.findall(r'<circle\b[^>]*class="spike"', dom)) >= 1  # Geran-2's burst
    assert not re.search(r"<(script|img|iframe)\b", dom)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text


@needs_chromium
@pytest.mark.slow
def test_console_check_catches_a_failing_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefined_function()</script>")
    result = run_chromium(page, tmp_path / "profile", "--dump-dom")
    assert any("undefined_function" in m for m in console_messages(result.stderr))


def colour_runs(row: bytes, colour: bytes) -> int:
    """How many separate horizontal runs of exactly ``colour`` a row of RGB pixels has."""
    runs, inside = 0, False
    for i in range(0, len(row), 3):
        hit = row[i : i + 3] == colour
        runs += hit and not inside
        inside = hit
    return runs


@needs_chromium
@pytest.mark.slow
def test_report_screenshot_shows_the_weekly_charts(
    sample_run_db: Path, sample_report: Path, tmp_path: Path
) -> None:
    """The real sample's report as Chromium draws it: the stories-per-week bars, then the
    topic entities' weekly panels below them, each bar a separate block of its exact colour,
    as many as the weeks with stories (a partial week is paler, so not counted)."""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    result = run_chromium(
        sample_report,
        tmp_path / "profile",
        f"--screenshot={SCREENSHOT}",
        "--window-size=1280,1800",
        "--hide-scrollbars",
    )
    assert console_messages(result.stderr) == []
    data = read_report(sample_run_db)
    full = [w.days == 7 for w in data.window.weeks]
    stories_bars = sum(1 for f, t in zip(full, data.weekly, strict=True) if f and t.stories)
    panel_rows = [data.topic_entities[i : i + 3] for i in range(0, len(data.topic_entities), 3)]
    panel_bars = max(
        sum(1 for e in row for f, c in zip(full, e.weeks, strict=True) if f and c.stories)
        for row in panel_rows
    )
    stories, entity = (bytes.fromhex(c.lstrip("#")) for c in (STORIES_COLOR, ENTITY_COLOR))
    colours: set[bytes] = set()
    rows: dict[bytes, list[int]] = {stories: [], entity: []}
    runs = {stories: 0, entity: 0}
    for y, row in enumerate(png_rows(SCREENSHOT.read_bytes())):
        colours.update(row[i : i + 3] for i in range(0, len(row), 3))
        for colour in (stories, entity):
            n = colour_runs(row, colour)
            if n:
                rows[colour].append(y)
                runs[colour] = max(runs[colour], n)
    assert len(colours) >= 200  # text, bars, grid: not a blank page
    assert runs[stories] == stories_bars >= 15
    assert runs[entity] == panel_bars >= 10
    assert len(rows[stories]) >= 60 and len(rows[entity]) >= 40  # bars tens of pixels tall
    assert max(rows[stories]) < min(rows[entity])  # the weekly stories chart comes first
