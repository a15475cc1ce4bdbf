"""newswatch backfill: sample sitemaps -> the same extract/match/load path, resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from newswatch.cli import main
from newswatch.core.records import Source
from newswatch.core.settings import SAMPLE_DIR, Settings
from newswatch.core.summaries import BackfillSummary
from newswatch.extractors.sitemap_crawl import discover
from newswatch.flows.backfill import backfill
from newswatch.sample import serve_sample, write_sample_sources
from tests.localserver import Route, routes_handler, serve
from tests.test_cli_options import RIVER_BARGES  # the one analyst-only entity

REPO = Path(__file__).resolve().parent.parent
EXPECTED = tomllib.loads((SAMPLE_DIR / "EXPECTED.toml").read_text(encoding="utf-8"))
SINCE = "2026-08-01"


def pages_since(day: str) -> set[str]:
    since = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return {
        path
        for path, page in EXPECTED["pages"].items()
        if datetime.fromisoformat(page["published_at"]) >= since
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with serve_sample(port=0) as base_url:
        sources = tmp_path_factory.mktemp("sample") / "sources.toml"
        yield base_url, write_sample_sources(base_url, sources)


def stored(db: Path) -> tuple[set[str], int, int, int]:
    """(stored URL paths, articles, mentions, alerts)."""
    with duckdb.connect(str(db), read_only=True) as con:
        urls = {row[0] for row in con.execute("SELECT url FROM articles").fetchall()}
        counts = [
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("articles", "mentions", "alerts")
        ]
    return {u.split("/", 3)[3] for u in urls}, counts[0], counts[1], counts[2]


def run(sources: Path, db: Path, **params: object) -> BackfillSummary:
    return backfill(sources=str(sources), db=str(db), allow_private=["127.0.0.1"], **params)  # type: ignore[return-value]


def test_backfill_loads_every_page_since_the_date_once_and_raises_no_alerts(
    prefect_harness: None, sample: tuple[str, Path], tmp_path: Path
) -> None:
    _, sources = sample
    db = tmp_path / "nw.duckdb"
    first = run(sources, db, since=SINCE, batch_size=10)
    urls, articles, mentions, alerts = stored(db)
    assert urls == pages_since(SINCE)
    assert first.articles_added == articles == len(pages_since(SINCE))
    assert first.urls_listed == EXPECTED["totals"]["pages"]
    assert first.batches == -(-articles // 10)
    assert mentions > 0 and alerts == 0

    again = run(sources, db, since=SINCE, batch_size=10)
    assert again.articles_added == 0 and again.pages_to_fetch == 0
    assert again.already_stored == articles
    assert stored(db)[1:] == (articles, mentions, 0)


def test_until_and_source_narrow_the_backfill(
    prefect_harness: None, sample: tuple[str, Path], tmp_path: Path
) -> None:
    _, sources = sample
    db = tmp_path / "nw.duckdb"
    run(sources, db, since="2026-07-01", until="2026-07-31", source_ids=["kyiv-signal"])
    urls = stored(db)[0]
    assert urls == {
        path
        for path, page in EXPECTED["pages"].items()
        if path.startswith("kyiv-signal/")
        and "2026-07-01"
        <= datetime.fromisoformat(page["published_at"]).astimezone(UTC).isoformat()
        < "2026-08-01"
    }
    assert urls  # the sample has July pages for this outlet


def test_backfill_matches_with_the_catalogue_it_is_given(
    prefect_harness: None, sample: tuple[str, Path], tmp_path: Path
) -> None:
    """An entity only the analyst's catalogue has (no edit of seeds/entities.toml)."""
    from newswatch.core.settings import DEFAULT_ENTITIES

    catalogue = tmp_path / "entities.toml"
    catalogue.write_text(DEFAULT_ENTITIES.read_text("utf-8") + RIVER_BARGES, "utf-8")
    db = tmp_path / "nw.duckdb"
    run(sample[1], db, since="2026-10-01", until="2026-10-31", catalogue=str(catalogue))
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT a.url FROM mentions m JOIN articles a USING (article_id) "
            "WHERE m.entity_id = 'analyst-river-barges'"
        ).fetchall()
    assert [url.split("/", 3)[3] for (url,) in found] == [
        "volga-monitor/2026/10/volga-caspian-river-route-munitions.html"
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--since", "last spring"],
        ["backfill", "--since", "2026-08-01", "--until", "2026-07-01"],
        ["backfill", "--since", "2026-08-01", "--batch-size", "0"],
    ],
)
def test_bad_backfill_arguments_are_a_configuration_error(argv: list[str]) -> None:
    assert main(argv) == 78


def test_discover_follows_a_sitemap_index_and_reports_a_missing_sitemap(
    sample: tuple[str, Path],
) -> None:
    base_url, _ = sample
    settings = Settings(allow_private=("127.0.0.1",), retries=0)
    found_all, missing = discover(
        [
            Source("all", "All", base_url + "/", sitemap=base_url + "/sitemap_index.xml"),
            Source("gone", "Gone", base_url + "/", sitemap=base_url + "/gone/sitemap.xml"),
        ],
        datetime(2026, 1, 1, tzinfo=UTC),
        settings,
    )
    assert found_all.sitemaps_read == 7  # the index + six outlet sitemaps
    assert len(found_all.pages) == EXPECTED["totals"]["pages"]
    assert missing.pages == () and "404" in missing.errors[0]


def test_discover_skips_index_children_last_modified_before_since() -> None:
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>/old.xml</loc><lastmod>2020-01-01</lastmod></sitemap>"
        b"<sitemap><loc>/new.xml</loc><lastmod>2026-10-01</lastmod></sitemap></sitemapindex>"
    )
    page = b"<urlset><url><loc>/p.html</loc><lastmod>2026-10-01</lastmod></url></urlset>"
    routes = {"/index.xml": Route(body=index), "/new.xml": Route(body=page)}
    with serve(routes_handler(routes)) as base:  # type: ignore[arg-type]
        (found,) = discover(
            [Source("s", "S", base + "/", sitemap=base + "/index.xml")],
            datetime(2026, 1, 1, tzinfo=UTC),
            Settings(allow_private=("127.0.0.1",), retries=0),
        )
    assert found.sitemaps_read == 2 and found.errors == ()
    assert [p.url for p in found.pages] == [base + "/p.html"]


def test_killed_backfill_rerun_ends_with_the_rows_of_a_clean_run(
    prefect_harness: None, sample: tuple[str, Path], tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    _, sources = sample
    clean_db, killed_db = tmp_path / "clean" / "nw.duckdb", tmp_path / "killed" / "nw.duckdb"
    run(sources, clean_db, since="2026-06-01", batch_size=100)  # batching changes no row

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the harness's server: no startup
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    command = [
        sys.executable, "-m", "newswatch.cli", "backfill", "--since", "2026-06-01",
        "--sources", str(sources), "--allow-private", "127.0.0.1", "--db", str(killed_db),
        "--batch-size", "5", "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    loaded = killed_db.parent / "staging" / "loaded"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if loaded.is_dir() and any(loaded.iterdir()):
                break
            time.sleep(0.05)
        assert process.poll() is None, "backfill ended before its first batch was loaded"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    partial = stored(killed_db)[1]
    assert 0 < partial < EXPECTED["totals"]["pages"]  # killed mid-way

    resumed = run(sources, killed_db, since="2026-06-01", batch_size=100)
    assert resumed.already_stored >= partial
    assert stored(killed_db) == stored(clean_db)
    assert stored(clean_db)[0] == set(EXPECTED["pages"])
