"""The one TOML line locator the sources, alerts and entity loaders share."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from newswatch.core.errors import ConfigError
from newswatch.extractors.alerts import load_alert_config
from newswatch.extractors.sources import load_sources
from newswatch.extractors.toml_lines import TomlLines, read_toml

TEXT = """\
title = "catalogue"

[[source]]  # first
id = "one"
url = "https://a.example/feed"

[[source]]
id = "two"

[notes]
url = "not a source field"
"""


def test_table_line_finds_the_key_inside_its_own_table() -> None:
    lines = TomlLines(TEXT)
    assert lines.headers("source") == [3, 7]
    assert lines.table_line("source", 0, "url") == 5
    assert lines.table_line("source", 1, "id") == 8


def test_a_key_missing_from_its_table_is_not_found_in_the_next_one() -> None:
    lines = TomlLines(TEXT)
    assert lines.table_line("source", 1, "url") == 7  # the header, not [notes]'s url
    assert lines.key_line("url", 7) is None


def test_unknown_tables_and_top_level_keys_fall_back_to_line_one() -> None:
    lines = TomlLines(TEXT)
    assert lines.table_line("source", 5, "id") == 1
    assert lines.table_line("rule", 0) == 1
    assert lines.key_line("title") == 1
    assert lines.table_start(8) == 7 and lines.table_start(1) == 1


def test_read_toml_names_the_line_of_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[source]]\nid = "one"\nname = "unterminated\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:3: invalid TOML"):
        read_toml(path, "sources file")


def test_read_toml_refuses_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read sources file"):
        read_toml(tmp_path / "missing.toml", "sources file")
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "Österreich"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read sources file: not UTF-8"):
        read_toml(latin, "sources file")


@pytest.mark.parametrize("loader", [load_sources, load_alert_config])
def test_every_loader_reports_syntax_errors_with_their_line(
    tmp_path: Path, loader: Callable[[Path], object]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('\n\n[[x]]\nname = "open\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:4: invalid TOML"):
        loader(path)
