"""``newswatch extract``: one JSON object per input, files and URLs."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from newswatch.cli import main
from tests.hostile.server import MIB, gzip_bomb, slow_drip
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
        code, records = run_cli(capsys, "--allow-private", "127.0.0.1", f"{base}/feed-link")
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
        code, records = run_cli(capsys, "--allow-private", "127.0.0.1", f"{base}/nothing-here")
    assert code == 1
    assert records[0]["status"] == "fetch_failed"
    assert records[0]["status_reason"] == "HTTP 404 Not Found"


def test_a_private_url_is_refused_with_the_option_that_allows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(routes_handler({"/a": Route(200, ARTICLE, {"Content-Type": "text/html"})})) as base:
        code, records = run_cli(capsys, f"{base}/a")
    assert code == 1
    [record] = records
    assert record["status"] == "fetch_failed"
    assert record["status_reason"] == (
        "refused by SSRF guard: 127.0.0.1 is a loopback address (allow it with "
        "--allow-private 127.0.0.1 or NEWSWATCH_ALLOW_PRIVATE=127.0.0.1)"
    )


def test_the_environment_variable_allows_a_private_url_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSWATCH_ALLOW_PRIVATE", "127.0.0.1")
    with serve(routes_handler({"/a": Route(200, ARTICLE, {"Content-Type": "text/html"})})) as base:
        code, records = run_cli(capsys, f"{base}/a")
    assert code == 0 and records[0]["title"] == "Geran drones roll out of Alabuga"


def test_a_gzip_bomb_is_stopped_at_the_body_cap(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """256 MiB of zeros in ~256 KiB of gzip: the fetch stops at the 1 MiB cap and never
    holds much more than that (was: plain httpx inflated all of it)."""
    monkeypatch.setenv("NEWSWATCH_MAX_BODY_BYTES", str(MIB))
    bomb = Route(
        200, gzip_bomb(256 * MIB), {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    )
    with serve(routes_handler({"/bomb": bomb})) as base:
        tracemalloc.start()
        try:
            code, records = run_cli(capsys, "--allow-private", "127.0.0.1", f"{base}/bomb")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 1
    [record] = records
    assert record["status"] == "fetch_failed"
    assert record["status_reason"] == "body exceeds 1 MiB (after decompression)"
    assert peak < 16 * MIB  # the bomb inflates to 256 MiB; only about the cap was held


def test_a_slow_drip_server_is_cut_at_the_total_deadline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One byte every 50 ms (never a read timeout) for 10 000 bytes: ~8 minutes unguarded."""
    monkeypatch.setenv("NEWSWATCH_TOTAL_TIMEOUT", "1")
    with serve(routes_handler({"/drip": slow_drip(length=10_000, interval=0.05)})) as base:
        code, records = run_cli(capsys, "--allow-private", "127.0.0.1", f"{base}/drip")
    assert code == 1
    [record] = records
    assert record["status"] == "fetch_failed"
    assert record["status_reason"] == "timed out after 1 s (total deadline, body included)"
