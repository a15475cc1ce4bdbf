"""The bounded body reader: a raw (possibly compressed) response body in, at most ``limit``
decoded bytes out, whatever the server sends.

The cap is counted twice: on the raw stream (a compressed body bigger than the cap decodes
bigger still) and on the decoded bytes, which are decompressed here (gzip, x-gzip,
deflate, zlib-wrapped or raw) in pieces of at most ``MAX_DECODED_PIECE``, so a gzip bomb
is stopped at the cap without ever holding more than one piece beyond it. Any other
content-coding (br, zstd, several stacked) is refused: the fetcher only asks for
``gzip, deflate``.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, Mapping

from newswatch.core.errors import PermanentFetchError

MAX_DECODED_PIECE = 256 * 1024


class BodyTooLarge(Exception):
    """The decoded body passed the cap; ``partial`` holds the bytes up to the cap."""

    def __init__(self, partial: bytes) -> None:
        super().__init__("body too large")
        self.partial = partial


class BoundedDecoder:
    """Decode a raw (possibly compressed) body incrementally, never past ``limit`` bytes."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        codings = [
            c.strip().lower()
            for c in (content_encoding or "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1:
            raise PermanentFetchError(f"unsupported content-encoding: {content_encoding}")
        self.coding = codings[0] if codings else None
        if self.coding not in (None, "gzip", "x-gzip", "deflate"):
            raise PermanentFetchError(f"unsupported content-encoding: {self.coding}")
        self.limit = limit
        self.size = 0
        self._zlib: zlib._Decompress | None = None
        self._kept: list[bytes] = []

    def decode(self, chunk: bytes) -> bytes:
        if self.coding is None:
            return self._count(chunk)
        if self._zlib is None:
            self._zlib = self._new_decompressor(chunk)
        pieces: list[bytes] = []
        data = chunk
        try:
            while data:
                room = min(self.limit - self.size + 1, MAX_DECODED_PIECE)
                pieces.append(self._count(self._zlib.decompress(data, room)))
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:  # gzip allows several members one after the other
                    data = self._zlib.unused_data
                    if not data.strip(b"\x00"):
                        break
                    self._zlib = self._new_decompressor(data)
        except zlib.error as exc:
            raise PermanentFetchError(f"could not decode {self.coding} body: {exc}") from exc
        return b"".join(pieces)

    def flush(self) -> bytes:
        if self._zlib is None:
            return b""
        try:
            tail = self._count(self._zlib.flush())
        except zlib.error as exc:
            raise PermanentFetchError(f"could not decode {self.coding} body: {exc}") from exc
        if not self._zlib.eof:
            raise PermanentFetchError(f"could not decode {self.coding} body: truncated stream")
        return tail

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.limit:
            overflow = self.size - self.limit
            self._kept.append(piece[: len(piece) - overflow])
            raise BodyTooLarge(b"".join(self._kept))
        self._kept.append(piece)
        return piece

    def _new_decompressor(self, first: bytes) -> zlib._Decompress:
        if self.coding == "deflate":
            # "deflate" is zlib-wrapped per the RFC, raw deflate in practice as often.
            looks_zlib = (
                len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
            )
            return zlib.decompressobj(zlib.MAX_WBITS if looks_zlib else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)


async def read_bounded(
    raw: AsyncIterable[bytes], headers: Mapping[str, str], limit: int, truncate: bool
) -> bytes:
    """The decoded body of a response whose raw chunks are ``raw``, at most ``limit`` bytes.

    Refuses (``PermanentFetchError``) a body over the cap, by its Content-Length before
    reading or by what it decodes to; with ``truncate`` it returns the first ``limit``
    bytes instead.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and not truncate:
        raise PermanentFetchError(
            f"body exceeds {_size(limit)} (Content-Length {_size(int(declared))})"
        )
    decoder = BoundedDecoder(headers.get("content-encoding"), limit)
    parts: list[bytes] = []
    raw_size = 0
    try:
        async for chunk in raw:
            raw_size += len(chunk)
            if raw_size > limit:  # compressed bigger than the cap: decoded is too
                raise BodyTooLarge(b"".join(parts))
            parts.append(decoder.decode(chunk))
        parts.append(decoder.flush())
    except BodyTooLarge as exc:
        if truncate:
            return exc.partial[:limit]
        raise PermanentFetchError(f"body exceeds {_size(limit)} (after decompression)") from None
    return b"".join(parts)


def _size(n: int) -> str:
    mib = 1024 * 1024
    if n >= mib:
        return f"{n / mib:g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} bytes"


__all__ = ["MAX_DECODED_PIECE", "BodyTooLarge", "BoundedDecoder", "read_bounded"]
