"""The source catalogue: loading, clear errors, and the `sources` commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.cli import main
from newswatch.core.errors import ConfigError
from newswatch.core.settings import DEFAULT_SOURCES
from newswatch.extractors.sources import KINDS, load_sources
from tests.hostile.server import GOOD_FEED, feed_route
from tests.localserver import Route, routes_handler, serve

VALID = """\
[catalogue]
version = "test"

[[source]]
id = "one"
name = "One"
url = "https://one.example.org/feed"
language = "en"

[[source]]
id = "two"
name = "Two"
url = "{{BASE}}/two.xml"
kind = "atom"
enabled = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_live_catalogue_loads() -> None:
    sources = load_sources(DEFAULT_SOURCES)
    assert len(sources) >= 20
    assert len({s.id for s in sources}) == len(sources)
    kinds = {s.kind for s in sources}
    assert {"rss", "gnews", "gdelt"} <= kinds <= KINDS
    assert all(s.url.startswith("https://") for s in sources)
    names = " ".join(s.name for s in sources)
    for outlet in ("Radio Free Europe", "Kyiv Independent", "Meduza",
                   "Iran International", "Al-Monitor", "TASS", "IRNA", "Al Jazeera",
                   "Institute for the Study of War", "The War Zone"):  # fmt: skip
        assert outlet in names


def test_valid_file_gives_sources_with_defaults(tmp_path: Path) -> None:
    one, two = load_sources(write(tmp_path, VALID))
    assert (one.id, one.kind, one.enabled, one.language) == ("one", "rss", True, "en")
    assert (two.url, two.kind, two.enabled, two.language) == (
        "{{BASE}}/two.xml",
        "atom",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (VALID.replace('id = "two"', 'id = "one"'),
         ":11: source #2 field 'id': duplicate id 'one' (first defined on line 5)"),
        (VALID.replace('url = "https://one.example.org/feed"\n', ""),
         ":4: source #1: missing required field 'url'"),
        (VALID.replace("https://one.example.org/feed", "ftp://one.example.org/feed"),
         ":7: source #1 field 'url': scheme 'ftp' not allowed (http or https only)"),
        (VALID.replace("https://one.example.org/feed", "file:///etc/passwd"),
         ":7: source #1 field 'url': scheme 'file' not allowed"),
        (VALID.replace('language = "en"', 'langauge = "en"'),
         ":8: source #1 field 'langauge': unknown key"),
        (VALID.replace('kind = "atom"', 'kind = "json"'),
         ":14: source #2 field 'kind': 'json' is not one of"),
        (VALID.replace("enabled = false", 'enabled = "no"'),
         ":15: source #2 field 'enabled': must be a bool"),
        (VALID.replace('name = "One"', 'name = ""'),
         ":6: source #1 field 'name': must be a non-empty string"),
        (VALID.replace('id = "one"', 'id = "One Feed"'),
         ":5: source #1 field 'id': 'One Feed' must match"),
        (VALID.replace('url = "{{BASE}}/two.xml"', 'url = "{{BASE}}two.xml"'),
         ":13: source #2 field 'url': '{{BASE}}' must be followed by '/'"),
        (VALID + "\n[[source]\n", "invalid TOML"),
        ("[[feeds]]\nid = 'x'\n", "unknown top-level key 'feeds'"),
    ],
)  # fmt: skip
def test_malformed_file_names_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_sources(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read sources file"):
        load_sources(tmp_path / "nope.toml")


def test_sources_list_prints_every_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sources", "list", "--sources", str(write(tmp_path, VALID))]) == 0
    out = capsys.readouterr().out
    assert "2 sources" in out
    assert "one" in out and "two" in out


def test_sources_check_reports_each_source_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = {"/good.xml": feed_route(GOOD_FEED), "/gone.xml": Route(410)}
    with serve(routes_handler(routes)) as base:
        catalogue = f"""
[[source]]
id = "good"
name = "Good"
url = "{base}/good.xml"

[[source]]
id = "gone"
name = "Gone"
url = "{base}/gone.xml"

[[source]]
id = "offline"
name = "Offline"
url = "http://nonexistent.invalid/feed"

[[source]]
id = "sample"
name = "Sample"
url = "{{{{BASE}}}}/x.xml"
"""
        path = write(tmp_path, catalogue)
        code = main(["sources", "check", "--sources", str(path), "--allow-private", "127.0.0.1"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "1/3 sources reachable" in out
    assert "HTTP 410" in out
    assert "DNS lookup failed" in out
    assert "skipped" in out


def test_sources_check_without_allow_private_refuses_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[[source]]\nid = "l"\nname = "L"\nurl = "http://127.0.0.1:9/f"\n')
    assert main(["sources", "check", "--sources", str(path)]) == 0
    assert "refused by SSRF guard" in " ".join(capsys.readouterr().out.split())


def test_malformed_catalogue_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.replace('id = "two"', 'id = "one"'))
    assert main(["sources", "list", "--sources", str(path)]) == 78
    assert "duplicate id 'one'" in capsys.readouterr().err
