"""``newswatch ui``: the real command serving a real sample warehouse on 127.0.0.1, read over
HTTP and driven in a real headless Chromium (Debian's ``chromium``) over the Chrome DevTools
Protocol: navigation, mouse clicks on links, typing into the search box. The browser tests
skip only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from newswatch.core.errors import WarehouseError
from newswatch.core.settings import default_snapshot_path
from newswatch.report.links import safe_href as external_href
from newswatch.ui.data import Reader
from newswatch.ui.server import allowed_hosts, exposure_warning
from newswatch.warehouse import search, ui_queries
from newswatch.warehouse.db import connect
from newswatch.warehouse.sample import SAMPLE_END, build_sample_db
from newswatch.warehouse.snapshot import publish_snapshot
from tests.chromium import BASE_FLAGS, CHROMIUM, needs_chromium

REPO_ROOT = Path(__file__).resolve().parent.parent
HOSTILE_TITLE = '<script>alert(1)</script> Shahed & "Geran" <b>drones</b>'
HOSTILE_OUTLET = "<img src=x onerror=alert(3)>"
HOSTILE_ENTITY_ID = "evil/<i>x</i>"  # a slash and markup in an id: quoted in the link path
HOSTILE_ENTITY_NAME = "<svg onload=alert(5)>"
HOSTILE_URL = "javascript:alert(2)"


def add_hostile_rows(db_path: Path) -> None:
    """Feed-provided strings an attacker controls: a title, an outlet, a URL, an entity."""
    seen = datetime(SAMPLE_END.year, SAMPLE_END.month, SAMPLE_END.day, 9, tzinfo=UTC)
    with connect(db_path) as con:
        con.execute(
            """
            INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, title,
                                  text, first_seen_at, published_day, status, on_topic)
            VALUES ('hostile-1', 'hostile', ?, ?, ?, ?, 'Shahed drones at Alabuga.', ?, ?,
                    'ok', true)
            """,
            [HOSTILE_OUTLET, HOSTILE_URL, HOSTILE_URL, HOSTILE_TITLE, seen, SAMPLE_END],
        )
        con.execute(
            "INSERT INTO entities (entity_id, name, type) VALUES (?, ?, 'weapon')",
            [HOSTILE_ENTITY_ID, HOSTILE_ENTITY_NAME],
        )
        for entity_id in ("shahed-136", HOSTILE_ENTITY_ID):
            con.execute(
                "INSERT INTO mentions (article_id, entity_id, count, snippet, alias, "
                "published_day) VALUES ('hostile-1', ?, 1, ?, 'Shahed', ?)",
                [entity_id, HOSTILE_TITLE, SAMPLE_END],
            )


@pytest.fixture(scope="module")
def ui_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db_path = tmp_path_factory.mktemp("ui") / "newswatch.duckdb"
    build_sample_db(db_path)
    add_hostile_rows(db_path)
    publish_snapshot(db_path)  # the file the server reads, with its search index
    return db_path


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT/
    process: subprocess.Popen[str]
    first_line: str
    stderr_path: Path


def start_server(db_path: Path, log_dir: Path, *extra: str, host: str = "127.0.0.1") -> Server:
    """``newswatch ui --port 0`` in a subprocess; returns once it printed where it listens."""
    stderr_path = log_dir / f"ui-{time.monotonic_ns()}.err"
    process = subprocess.Popen(
        [sys.executable, "-m", "newswatch.cli", "ui", "--db", str(db_path), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("w"),
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")},
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=30):
            process.kill()
            pytest.fail(f"newswatch ui printed nothing in 30 s: {stderr_path.read_text()}")
    line = process.stdout.readline()
    found = re.search(rf"http://{re.escape(host)}:\d+/", line)
    if not found:
        process.kill()
        pytest.fail(f"no URL in {line!r}: {stderr_path.read_text()}")
    return Server(found.group(0), process, line, stderr_path)


def stop_server(server: Server) -> int:
    server.process.send_signal(signal.SIGINT)
    try:
        return server.process.wait(timeout=15)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def server(ui_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(ui_db, tmp_path_factory.mktemp("logs"))
    try:
        yield running
    finally:
        code = stop_server(running)
        assert code == 0, running.stderr_path.read_text()  # Ctrl-C is the normal stop


def fetch(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8")


# --- over HTTP ----------------------------------------------------------------------------


def test_the_command_says_where_it_listens_and_what_it_reads(server: Server, ui_db: Path) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert f"snapshot {default_snapshot_path(ui_db)}" in server.first_line
    assert server.stderr_path.read_text() == ""  # loopback: no warning


def test_a_hostile_title_outlet_and_url_reach_the_story_list_as_text(server: Server) -> None:
    status, _, html = fetch(server.url)
    assert status == 200
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Shahed &amp; &#34;Geran&#34; &lt;b&gt;" in html
    assert "&lt;img src=x onerror=alert(3)&gt;" in html
    assert "javascript:" not in html.lower()  # not a link, and shown nowhere on this page


def test_the_why_page_of_a_hostile_article_is_escaped(server: Server) -> None:
    status, _, html = fetch(server.url + "article/hostile-1")
    assert status == 200
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; Shahed &amp; " in html
    assert 'href="javascript:' not in html.lower()
    assert '<span class="url">javascript:alert(2)</span>' in html  # shown as text only
    quoted = quote(HOSTILE_ENTITY_ID, safe="")
    assert f'href="/entity/{quoted}"' in html  # the slash and markup are quoted in the path


def test_an_entity_id_with_a_slash_and_markup_has_its_page(server: Server) -> None:
    status, _, html = fetch(server.url + "entity/" + quote(HOSTILE_ENTITY_ID, safe=""))
    assert status == 200
    assert "<h1>&lt;svg onload=alert(5)&gt;</h1>" in html
    assert "<svg" not in html and "<i>" not in html


def test_every_page_forbids_scripts_and_other_origins(server: Server) -> None:
    for path in ("", "entity/geran-2", "article/hostile-1", "search?q=shahed", "nope?x"):
        status, headers, html = fetch(server.url + path)
        assert status in (200, 404), path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, path
        assert headers["x-content-type-options"] == "nosniff"
        if status == 200:
            assert not re.search(r"<(script|iframe|object|embed|img)\b", html), path


def test_it_is_read_only_and_refuses_foreign_host_names(server: Server) -> None:
    assert fetch(server.url, method="POST")[0] == 405
    assert fetch(server.url + "article/hostile-1", method="DELETE")[0] == 405
    assert fetch(server.url, headers={"Host": "evil.example"})[0] == 400  # DNS rebinding
    port = server.url.rsplit(":", 1)[1].rstrip("/")
    assert fetch(server.url, headers={"Host": f"localhost:{port}"})[0] == 200


def test_bad_parameters_and_unknown_keys_get_their_own_answers(server: Server) -> None:
    status, _, html = fetch(server.url + "?since=yesterday")
    assert status == 400 and "since must be a day" in html
    assert fetch(server.url + "?offset=-1")[0] == 400
    assert fetch(server.url + "entity/no-such-entity")[0] == 404
    status, _, html = fetch(server.url + "entity/gERAN-2")
    assert status == 200 and "<h1>Geran-2</h1>" in html  # a catalogue name, any case
    assert fetch(server.url + "article/0000000000")[0] == 404


def test_filters_select_the_stories_the_query_counts(server: Server, ui_db: Path) -> None:
    filters = ui_queries.StoryFilters(outlet="Meduza", entity="alabuga")
    with connect(default_snapshot_path(ui_db), read_only=True) as con:
        expected = ui_queries.story_count(con, filters)
        everything = ui_queries.story_count(con, ui_queries.StoryFilters())
    assert 0 < expected < everything
    status, _, html = fetch(server.url + "?outlet=Meduza&entity=alabuga")
    assert status == 200
    assert f'<p class="count" id="count">{expected} stories' in html
    assert html.count('<tr class="story') == min(expected, 50)
    assert '<option value="Meduza" selected>' in html


def test_the_stream_pages_through_every_story(server: Server, ui_db: Path) -> None:
    with connect(default_snapshot_path(ui_db), read_only=True) as con:
        total = ui_queries.story_count(con, ui_queries.StoryFilters())
    seen: list[str] = []
    url = server.url
    for _ in range(10):
        html = fetch(url)[2]
        seen += re.findall(r'<a class="why" href="/article/([^"]+)"', html)
        older = re.search(r'<a id="older" href="/([^"]*)"', html)
        if not older:
            break
        url = server.url + older.group(1).replace("&amp;", "&")
    assert len(seen) == len(set(seen)) == total


def test_pages_follow_a_new_snapshot_and_never_hold_the_file(ui_db: Path, tmp_path: Path) -> None:
    """Before the first snapshot the live file is read (read-only, per request): a writer
    can open it between requests; a snapshot published meanwhile is read by the next page."""
    db_path = tmp_path / "newswatch.duckdb"
    shutil.copy(ui_db, db_path)  # the live file only, no snapshot beside it
    running = start_server(db_path, tmp_path)
    try:
        assert "no snapshot published yet" in running.first_line
        status, _, html = fetch(running.url)
        assert status == 200 and "no snapshot published yet" in html
        assert 'id="no-index"' in fetch(running.url + "search?q=shahed")[2]
        with connect(db_path, lock_timeout=2.0) as con:  # refused if the server held it
            con.execute(
                """
                INSERT INTO articles (article_id, source_id, outlet, url, canonical_url,
                                      title, text, first_seen_at, published_day, status)
                SELECT 'added-1', 'x', 'Added Outlet', 'https://added.example/1',
                       'https://added.example/1', 'Freshly loaded story', 'Alabuga.',
                       first_seen_at + INTERVAL 1 HOUR, published_day, 'ok'
                FROM articles ORDER BY first_seen_at DESC LIMIT 1
                """
            )
        assert "Freshly loaded story" in fetch(running.url)[2]
        publish_snapshot(db_path)
        html = fetch(running.url + "search?q=freshly")[2]
        assert f"Reading snapshot {default_snapshot_path(db_path)}" in html
        assert "Freshly loaded story" in html
    finally:
        assert stop_server(running) == 0


def test_live_reads_the_main_file_even_beside_a_snapshot(ui_db: Path) -> None:
    assert Reader(ui_db).path() == default_snapshot_path(ui_db)
    assert Reader(ui_db, live=True).path() == ui_db
    assert "live, read-only" in Reader(ui_db, live=True).describe()
    missing = Reader(ui_db.parent / "missing.duckdb")
    with pytest.raises(WarehouseError, match="no database"), missing.connection():
        pass


def test_a_non_loopback_host_prints_a_warning(ui_db: Path, tmp_path: Path) -> None:
    assert exposure_warning("127.0.0.1", 8765) is None
    assert exposure_warning("localhost", 8765) is None
    assert exposure_warning("::1", 8765) is None
    warning = exposure_warning("0.0.0.0", 8765)
    assert warning and "not a loopback address" in warning and "8765" in warning
    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost"]
    assert allowed_hosts("0.0.0.0") is None
    running = start_server(ui_db, tmp_path, "--host", "0.0.0.0", host="0.0.0.0")
    try:
        local = running.url.replace("0.0.0.0", "127.0.0.1")
        assert fetch(local, headers={"Host": "newswatch.lan"})[0] == 200  # any name, by choice
    finally:
        assert stop_server(running) == 0
    assert "warning: --host 0.0.0.0 is not a loopback address" in running.stderr_path.read_text()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,x",
        "//evil.example/x",
        "/relative",
        "https://",
        "https://exa mple.org/",
        "",
        None,
    ],
)
def test_only_absolute_http_urls_become_external_links(url: str | None) -> None:
    assert external_href(url) is None


def test_external_links_are_percent_encoded_as_a_browser_sends_them() -> None:
    assert external_href('https://e.example/a"><b>') == "https://e.example/a%22%3E%3Cb%3E"
    assert external_href("https://e.example/x?a=1&b=2") == "https://e.example/x?a=1&b=2"


def test_the_templates_ship_in_the_wheel() -> None:
    """Every file under newswatch/ui/templates/ is package data (pyproject's globs)."""
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "newswatch.ui" in setuptools["packages"]
    folder = REPO_ROOT / "newswatch" / "ui"
    shipped = {
        p for pattern in setuptools["package-data"]["newswatch.ui"] for p in folder.glob(pattern)
    }
    on_disk = {p for p in (folder / "templates").rglob("*") if p.is_file()}
    assert on_disk and shipped == on_disk


# --- in headless Chromium, over the DevTools protocol ------------------------------------

CHROMIUM_FLAGS = (
    *BASE_FLAGS,
    "--window-size=1280,900",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
)


class DevTools:
    """A page of a headless Chromium driven over its DevTools WebSocket (one flat session)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        self._next_id = 0

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            answer = self._receive(time.monotonic() + 20, method)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    def wait_for(self, event: str, after: int, timeout: float = 20) -> dict[str, Any]:
        """The first ``event`` received after the first ``after`` events."""
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            for index in range(seen, len(self.events)):
                if self.events[index]["method"] == event:
                    return self.events[index]
            seen = len(self.events)
            self._receive(deadline, event)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no answer to {waiting_for} in time")
        try:
            data: dict[str, Any] = json.loads(self.ws.recv(timeout=left))
        except TimeoutError:
            raise AssertionError(f"no answer to {waiting_for} in time") from None
        if "method" in data:
            self.events.append(data)
        return data

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        mark = len(self.events)
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", mark)

    def click(self, selector: str, *, navigates: bool = True) -> dict[str, Any]:
        """A real mouse click (move, press, release) on the middle of the element."""
        box = self.evaluate(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el) return null;
                el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                return {{x: r.left + r.width / 2, y: r.top + r.height / 2,
                         text: el.textContent, href: el.getAttribute("href")}};
            }})()"""
        )
        assert box is not None, f"nothing matches {selector}"
        mark = len(self.events)
        point = {"x": box["x"], "y": box["y"]}
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", **point})
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, **point, "button": "left", "buttons": 1, "clickCount": 1},
            )
        if navigates:
            self.wait_for("Page.loadEventFired", mark)
        return box

    def texts(self, selector: str) -> list[str]:
        return self.evaluate(
            f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent.trim())"
        )

    def location(self) -> dict[str, str]:
        return self.evaluate(
            "({path: location.pathname, search: location.search, href: location.href})"
        )

    def problems(self) -> list[str]:
        """Script exceptions and error-level console or log entries (CSP violations too)."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails")))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"].get("text", ""))
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(str(params.get("args")))
        return found


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    log = tmp_path / "chromium.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"DevTools listening on (ws://\S+)", log.read_text())):
            assert process.poll() is None, f"chromium exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"no DevTools endpoint: {log.read_text()}"
            time.sleep(0.05)
        with ws_connect(found.group(1), max_size=None, open_timeout=20) as ws:
            tools = DevTools(ws)
            target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            tools.session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                tools.call(f"{domain}.enable")
            yield tools
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@needs_chromium
@pytest.mark.slow
def test_browse_stories_follow_an_entity_and_a_why_link_then_search(
    browser: DevTools, server: Server, ui_db: Path
) -> None:
    with connect(default_snapshot_path(ui_db), read_only=True) as con:
        total = ui_queries.story_count(con, ui_queries.StoryFilters())
        geran_articles = con.execute(
            "SELECT count(DISTINCT article_id) FROM mentions WHERE entity_id = 'geran-2'"
        ).fetchone()
        hits = search.search(con, "Alabuga factory", limit=50)
    assert geran_articles and hits

    # the story list: newest first, the hostile title shown as text, nothing injected
    browser.navigate(server.url)
    assert browser.location()["path"] == "/"
    assert browser.texts("h1") == ["Stories"]
    assert browser.texts("#count")[0].startswith(f"{total} stories, 1–50 shown")
    rows = browser.texts("#stories tbody tr")
    assert len(rows) == 50
    assert browser.texts("#stories tbody tr:first-child a.why") == [HOSTILE_TITLE]
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('#stories b, #stories img').length") == 0

    # an entity link in the stream: its page with the weekly series and co-occurring entities
    link = browser.click('#stories a.entity[href="/entity/geran-2"]')
    assert link["text"] == "Geran-2"
    assert browser.location()["path"] == "/entity/geran-2"
    assert browser.texts("h1") == ["Geran-2"]
    weekly = browser.evaluate(
        "[...document.querySelectorAll('#weekly tbody tr')]"
        ".map(r => Number(r.cells[1].textContent))"
    )
    assert len(weekly) >= 6 and sum(weekly) == geran_articles[0]
    together = browser.texts("#cooccurring a.entity")
    assert together and "Geran-2" not in together

    # a why link: everything stored about that article
    why = browser.click("#articles tbody tr:first-child a.why")
    assert browser.location()["path"] == why["href"]
    assert browser.texts("h1") == [why["text"].strip()]
    assert "Geran-2" in browser.texts("#mentions a.entity")
    for section in ("fetched", "extracted", "matched", "judged", "story", "alerts"):
        assert browser.evaluate(f"!!document.getElementById('{section}')"), section

    # a search typed into the box and submitted with a click
    browser.click("#q", navigates=False)
    browser.call("Input.insertText", {"text": "Alabuga factory"})
    browser.click("#search-button")
    where = browser.location()
    assert where["path"] == "/search"
    assert browser.evaluate("new URLSearchParams(location.search).get('q')") == "Alabuga factory"
    assert browser.texts("h1") == ["Search"]
    assert browser.texts("#results tbody tr a.why") == [h.title for h in hits]
    assert browser.evaluate("document.querySelector('#q').value") == "Alabuga factory"

    # and back into the stream through a filter: the stories mentioning one entity
    browser.navigate(server.url + "entity/alabuga")
    browser.click("#entity-stories")
    assert browser.evaluate("new URLSearchParams(location.search).get('entity')") == "alabuga"
    assert browser.evaluate("document.querySelector('#entity').value") == "alabuga"
    assert browser.problems() == []
