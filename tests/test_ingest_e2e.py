"""End to end: real feeds and pages over HTTP on 127.0.0.1, a real Prefect flow run, a real
DuckDB file. The bundled sample plus real pages from ../shared/corpus."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb
import pytest

from newswatch.core.settings import SAMPLE_DIR
from newswatch.core.summaries import IngestSummary
from newswatch.sample import serve_sample, write_sample_sources
from tests.localserver import Route, routes_handler, serve

# Topic-adjacent real pages (German and Canadian press: shadow fleet, IRGC, Hezbollah).
CORPUS_PAGES = (
    "articles/fundus/de/TOnline_2026_01_07.html.gz",
    "articles/fundus/de/NTV_2025_12_12.html.gz",
    "articles/fundus/de/LTO_2025_10_20.html.gz",
    "articles/fundus/ca/CBCNews_2024_08_08.html.gz",
)
UNREACHABLE = "http://127.0.0.1:9/gone/feed.xml"


def corpus_feed(base: str, names: list[str]) -> bytes:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{escape(name)}</title><link>{base}/corpus/{name}.html</link>"
        f"<guid>{base}/corpus/{name}.html</guid>"
        f"<pubDate>{format_datetime(now - timedelta(days=i))}</pubDate></item>"
        for i, name in enumerate(names)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>corpus</title><link>{base}/</link>{items}</channel></rss>"
    ).encode()


@pytest.fixture(scope="module")
def corpus_site(corpus_dir: Path) -> Iterator[str]:
    routes: dict[str, Route] = {}
    names = []
    for rel in CORPUS_PAGES:
        name = Path(rel).name.removesuffix(".html.gz")
        names.append(name)
        html = gzip.decompress((corpus_dir / rel).read_bytes())
        routes[f"/corpus/{name}.html"] = Route(
            200, html, {"Content-Type": "text/html; charset=utf-8"}
        )
    with serve(routes_handler(routes)) as base:
        routes["/corpus/feed.xml"] = Route(
            200, corpus_feed(base, names), {"Content-Type": "application/rss+xml"}
        )
        yield base


@pytest.fixture(scope="module")
def sample_site() -> Iterator[str]:
    with serve_sample() as base:
        yield base


def sources_file(tmp_path: Path, sample_base: str, corpus_base: str) -> Path:
    path = write_sample_sources(sample_base, tmp_path / "sources.toml")
    with path.open("a", encoding="utf-8") as out:
        out.write(
            f'\n[[source]]\nid = "corpus"\nname = "Corpus pages"\n'
            f'url = "{corpus_base}/corpus/feed.xml"\nlanguage = "de"\nkind = "rss"\n'
        )
    return path


def expected_sample() -> dict:
    return tomllib.loads((SAMPLE_DIR / "EXPECTED.toml").read_text(encoding="utf-8"))


def count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture(scope="module")
def first_run(
    prefect_harness: None,
    tmp_path_factory: pytest.TempPathFactory,
    sample_site: str,
    corpus_site: str,
) -> tuple[Path, Path, IngestSummary]:
    from newswatch.flows.ingest import ingest

    tmp = tmp_path_factory.mktemp("e2e")
    sources = sources_file(tmp, sample_site, corpus_site)
    db = tmp / "news.duckdb"
    summary = ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"])
    return db, sources, summary


def test_ingest_loads_every_sample_and_corpus_article(
    first_run: tuple[Path, Path, IngestSummary],
) -> None:
    db, _, summary = first_run
    pages = expected_sample()["totals"]["pages"]
    assert pages >= 40
    stored = count(db, "select count(*) from articles")
    assert stored >= pages + len(CORPUS_PAGES) - 1  # the syndicated copy may share a URL
    assert summary.new_articles == stored
    empty = count(db, "select count(*) from articles where status = 'ok' and length(text) < 200")
    assert empty == 0


def test_ingest_stores_mentions_of_named_entities(
    first_run: tuple[Path, Path, IngestSummary],
) -> None:
    db, _, _ = first_run
    with duckdb.connect(str(db), read_only=True) as con:
        names = {
            row[0]
            for row in con.execute(
                "select distinct e.name from mentions m "
                "join entities e on e.entity_id = m.entity_id"
            ).fetchall()
        }
        corpus_hits = con.execute(
            "select count(*) from mentions m join articles a using (article_id) "
            "where a.source_id = 'corpus'"
        ).fetchone()
    joined = " ".join(names).lower()
    for expected in ("shahed", "alabuga", "hezbollah", "irgc"):
        assert expected in joined, f"no mention of {expected!r} in {sorted(names)}"
    assert corpus_hits is not None and corpus_hits[0] > 0


def test_broken_and_unreachable_feeds_are_reported_not_fatal(
    first_run: tuple[Path, Path, IngestSummary],
) -> None:
    db, _, summary = first_run
    failed = dict(summary.failed_feeds)
    unreachable = [sid for sid, _ in failed.items() if "unreachable" in sid]
    assert unreachable, f"unreachable source not reported: {failed}"
    assert all(error for error in failed.values())
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select source_id, last_status, last_error from feed_state order by source_id"
        ).fetchall()
    states = {sid: (status, error) for sid, status, error in rows}
    assert states[unreachable[0]][0] == "error"
    assert states[unreachable[0]][1]
    # the broken feed's salvageable items were still loaded, and its error recorded
    broken = expected_sample()["oddities"]["broken_feed"]
    assert count(db, f"select count(*) from articles where source_id = '{broken}'") >= 2
    assert count(db, f"select count(*) from feed_polls where source_id = '{broken}' and bozo") == 1


def test_second_run_adds_no_rows(first_run: tuple[Path, Path, IngestSummary]) -> None:
    from newswatch.flows.ingest import ingest

    db, sources, _ = first_run
    before = [count(db, f"select count(*) from {t}") for t in ("articles", "mentions")]
    summary = ingest(sources=str(sources), db=str(db), allow_private=["127.0.0.1"])
    after = [count(db, f"select count(*) from {t}") for t in ("articles", "mentions")]
    assert after == before
    assert summary.new_articles == 0


def test_readme_commands_run_sample_and_query(tmp_path: Path) -> None:
    """`newswatch run --sample` then `newswatch sql` in fresh processes, as a newcomer would."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    db = tmp_path / "data" / "newswatch.duckdb"
    cli = [sys.executable, "-m", "newswatch.cli"]
    alerts = tmp_path / "alerts.jsonl"
    run_sample = [*cli, "run", "--sample", "--quiet", "--db", str(db)]
    run_sample += ["--alerts-to", f"file://{alerts}"]
    run = subprocess.run(
        run_sample, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "new articles" in run.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        stories = con.execute(
            "select count(distinct story_id) from articles where on_topic"
        ).fetchone()
    lines = alerts.read_text().splitlines()
    assert stories is not None and len(lines) == stories[0] > 0  # one per new on-topic story
    rerun = subprocess.run(
        run_sample, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert alerts.read_text().splitlines() == lines  # none on a re-run
    sql = subprocess.run(
        [*cli, "sql", "select count(*) as n from articles", "--format", "json", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert sql.returncode == 0, sql.stderr[-3000:]
    assert json.loads(sql.stdout)[0]["n"] >= 40
