"""Body caps hold after decompression, without ever holding the decoded size in memory."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import pytest

from newswatch.core.errors import PermanentFetchError
from newswatch.extractors.decoding import MAX_DECODED_PIECE, BodyTooLarge, BoundedDecoder
from tests.hostile.helpers import HOSTILE_SETTINGS, MIB, fetch
from tests.hostile.server import deflate_bomb, gzip_bomb
from tests.localserver import Route, routes_handler, serve


@pytest.mark.parametrize(("coding", "bomb"), [("gzip", gzip_bomb), ("deflate", deflate_bomb)])
def test_bomb_page_is_refused_at_the_cap_with_bounded_memory(coding: str, bomb) -> None:  # type: ignore[no-untyped-def]
    body = bomb()  # 64 MiB of zeros once decoded
    routes = {"/bomb": Route(200, body, {"Content-Type": "text/html", "Content-Encoding": coding})}
    settings = replace(HOSTILE_SETTINGS, max_body_bytes=1 * MIB)
    with serve(routes_handler(routes)) as base:
        tracemalloc.start()
        try:
            (page,) = fetch([f"{base}/bomb"], settings=settings)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert page.status == "error"
    assert page.error == "body exceeds 1 MiB (after decompression)"
    assert page.body is None
    assert peak < 12 * MIB, f"peak traced memory {peak / MIB:.1f} MiB"


def test_decoder_stops_at_the_cap_and_keeps_pieces_small() -> None:
    decoder = BoundedDecoder("gzip", 3 * MIB)
    bomb = gzip_bomb()
    sizes: list[int] = []
    with pytest.raises(BodyTooLarge) as stopped:
        for start in range(0, len(bomb), 1024):
            sizes.append(len(decoder.decode(bomb[start : start + 1024])))
    assert len(stopped.value.partial) == 3 * MIB
    assert max(sizes) <= 3 * MIB  # each decode call returns at most the pieces it made
    assert decoder.size <= 3 * MIB + MAX_DECODED_PIECE


def test_decoder_passes_identity_and_rejects_unknown_codings() -> None:
    assert BoundedDecoder(None, 10).decode(b"abc") == b"abc"
    assert BoundedDecoder("identity", 10).decode(b"abc") == b"abc"
    with pytest.raises(PermanentFetchError, match="unsupported content-encoding: br"):
        BoundedDecoder("br", 10)
    with pytest.raises(BodyTooLarge):
        BoundedDecoder(None, 2).decode(b"abc")
