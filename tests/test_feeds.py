"""parse_feed: bytes in, normalised entries out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.extractors.feeds import absolute_link, html_to_text, parse_feed, prune_items

FETCHED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def parse(body: bytes, **options: object):  # type: ignore[no-untyped-def]
    return parse_feed(
        body, base_url="https://news.example.org/world/feed.xml", source_id="s",
        fetched_at=FETCHED_AT, **options,
    )  # fmt: skip


def rss(items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def test_guid_falls_back_to_link_then_to_a_content_hash() -> None:
    parsed = parse(
        rss(
            "<item><guid isPermaLink='false'>urn:1</guid><title>a</title><link>/a</link></item>"
            "<item><title>b</title><link>/b</link></item>"
            "<item><title>c</title><pubDate>Mon, 03 Nov 2025 10:00:00 GMT</pubDate></item>"
        )
    )
    guids = {e.title: e.guid for e in parsed.entries}
    assert guids["a"] == "urn:1"
    assert guids["b"] == "https://news.example.org/b"
    assert guids["c"].startswith("sha1:") and len(guids["c"]) == 45
    assert parse(rss("<item><title>c</title><pubDate>Mon, 03 Nov 2025 10:00:00 GMT</pubDate>"
                     "</item>")).entries[0].guid == guids["c"]  # fmt: skip


def test_entries_are_newest_first_and_capped() -> None:
    items = "".join(
        f"<item><guid>{n}</guid><title>{n}</title>"
        f"<pubDate>Mon, {n + 1:02d} Sep 2025 10:00:00 GMT</pubDate></item>"
        for n in (3, 7, 1, 0, 6, 2, 5, 4)
    )
    parsed = parse(rss(items), max_entries=5)
    assert [e.title for e in parsed.entries] == ["7", "6", "5", "4", "3"]
    assert parsed.notes == ("truncated: newest 5 of 8 entries kept",)


def test_a_huge_feed_is_cut_before_parsing_keeping_its_first_items() -> None:
    items = "".join(f"<item><guid>{n}</guid><title>{n}</title></item>" for n in range(5000))
    parsed = parse(rss(items), max_entries=10)
    assert len(parsed.entries) == 10
    assert parsed.entries_in_document == 5000
    assert parsed.notes[0] == "document cut before parsing: first 20 of 5000 items kept"
    assert not parsed.bozo


def test_a_local_path_as_body_is_never_opened(corpus_dir: Path) -> None:
    real_feed = corpus_dir / "feeds/real-world/rss-parser-js/guardian.rss"
    parsed = parse(str(real_feed).encode())
    assert parsed.entries == ()
    assert parsed.bozo


def test_plain_text_summary_is_kept_as_text_and_html_is_reduced_to_text() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b'<entry><id>1</id><title>x</title><summary type="text">a &lt;b&gt; c</summary></entry>'
        b'<entry><id>2</id><title>y</title><summary type="html">'
        b"&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two &amp;amp; three&lt;/p&gt;</summary></entry></feed>"
    )
    summaries = {e.title: e.summary for e in parse(atom).entries}
    assert summaries["x"] == "a <b> c"
    assert summaries["y"] == "One\nTwo & three"


def test_authors_and_tags_are_collected_without_duplicates() -> None:
    parsed = parse(
        b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
        b"<item><guid>1</guid><title>x</title><dc:creator>Jane Roe</dc:creator>"
        b"<category>Iran</category><category>Russia</category><category>Iran</category>"
        b"</item></channel></rss>"
    )
    (entry,) = parsed.entries
    assert entry.authors == ("Jane Roe",)
    assert entry.tags == ("Iran", "Russia")


def test_absolute_link_rules() -> None:
    base = "https://news.example.org/world/feed.xml"
    assert absolute_link("story/1", base) == "https://news.example.org/world/story/1"
    assert absolute_link("//cdn.example.org/x", base) == "https://cdn.example.org/x"
    assert absolute_link("javascript:alert(1)", base) == ""
    assert absolute_link("data:text/html,x", base) == ""
    assert absolute_link("   ", base) == ""
    assert absolute_link(None, base) == ""


def test_html_to_text_drops_scripts_and_keeps_paragraphs() -> None:
    text = html_to_text("<p>Shahed <b>drones</b></p><script>evil()</script><p>Alabuga</p>")
    assert [line.strip() for line in text.splitlines() if line.strip()] == [
        "Shahed drones",
        "Alabuga",
    ]


def test_prune_keeps_the_document_well_formed() -> None:
    body = rss("".join(f"<item><guid>{n}</guid><title>{n}</title></item>" for n in range(50)))
    pruned, total = prune_items(body, 10)
    assert total == 50
    assert pruned.count(b"</item>") == 10
    assert pruned.endswith(b"</channel></rss>")
    assert not parse(pruned).bozo


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    parsed = parse(body)
    for entry in parsed.entries:
        entry.title.encode("utf-8")
        assert entry.published_at <= FETCHED_AT


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_item_text_never_raises(text: str) -> None:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    parsed = parse(rss(f"<item><title>{escaped}</title><description>{escaped}</description>"
                       f"<link>{escaped}</link><pubDate>{escaped}</pubDate></item>"))  # fmt: skip
    for entry in parsed.entries:
        assert "\x00" not in entry.title
        assert not entry.link or entry.link.startswith(("http://", "https://"))
