"""``newswatch extract``: one JSON object per input, files and URLs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from newswatch.cli import main
from tests.localserver import Route, routes_handler, serve

ARTICLE = (
    "<!DOCTYPE html><html lang='en'><head><title>Geran drones | Example</title>"
    "<meta property='og:title' content='Geran drones roll out of Alabuga'>"
    "<link rel='canonical' href='/news/geran?utm_source=x'></head><body>"
    "<nav>Home World</nav><article><h1>Geran drones roll out of Alabuga</h1>"
    + "<p>The factory in Tatarstan now builds the Iranian-designed drones itself, according "
    "to documents reviewed by investigators, and output has grown every month.</p>"
    * 4
    + "</article></body></html>"
).encode()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:
    code = main(["extract", *args])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_local_gzip_corpus_file_prints_one_json_object(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus_dir / "articles" / "fundus" / "de" / "TOnline_2026_01_07.html.gz"
    code, records = run_cli(capsys, str(path))
    assert code == 0
    [record] = records
    assert record["status"] == "ok"
    assert record["title"] == "Russlands Schattenflotte: USA stoppen sanktioniertes Geisterschiff"
    assert record["date"].startswith("2026-01-07")
    assert record["language"] == "de"
    assert {"url", "canonical_url", "author", "date_method", "status_reason", "text"} <= set(record)


def test_url_is_fetched_and_canonicalised(capsys: pytest.CaptureFixture[str]) -> None:
    routes = {
        "/feed-link": Route(301, headers={"Location": "/news/geran?utm_medium=rss"}),
        "/news/geran": Route(200, ARTICLE, {"Content-Type": "text/html; charset=utf-8"}),
    }
    with serve(routes_handler(routes)) as base:
        code, records = run_cli(capsys, f"{base}/feed-link")
    assert code == 0
    [record] = records
    assert record["canonical_url"] == f"{base}/news/geran"
    assert record["title"] == "Geran drones roll out of Alabuga"
    assert "Tatarstan" in record["text"]
    assert "Home World" not in record["text"]


def test_every_input_gets_a_line_and_failures_set_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "page.html.gz"
    good.write_bytes(gzip.compress(ARTICLE))
    pdf = tmp_path / "report.html"
    pdf.write_bytes(b"%PDF-1.5 not really html")
    code, records = run_cli(capsys, str(good), str(tmp_path / "missing.html"), str(pdf))
    assert code == 1
    assert [r["status"] for r in records] == ["ok", "fetch_failed", "not_html"]


def test_http_error_is_reported_as_fetch_failed(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(routes_handler({})) as base:
        code, records = run_cli(capsys, f"{base}/nothing-here")
    assert code == 1
    assert records[0]["status"] == "fetch_failed"
    assert records[0]["status_reason"] == "HTTP 404"
