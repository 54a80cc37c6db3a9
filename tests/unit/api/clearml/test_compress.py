"""gzip answers written piece by piece, with pieces deflated beforehand spliced in."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest

from hangar.api.clearml.compress import Deflated, GzipWriter, accepts_gzip, crc32_combine, gzipped


@pytest.mark.parametrize("length", [0, 1, 7, 1000, 65_537, 1_000_003])
def test_crc32_of_two_parts_combines_from_theirs(length: int) -> None:
    first, second = os.urandom(33), os.urandom(length)
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_a_member_with_spliced_pieces_decompresses_to_the_whole_text() -> None:
    kept = Deflated.of(b'{"iter":1,"value":0.5},' * 20_000)
    writer = GzipWriter()
    parts = [b'{"data":{"events":[', kept, b'{"x":2},', kept, b'{"x":3}]}}']
    out = b"".join(
        writer.deflated(p) if isinstance(p, Deflated) else writer.text(p) for p in parts
    ) + writer.end()  # fmt: skip
    whole = b"".join(p if isinstance(p, bytes) else kept_text(p) for p in parts)
    assert gzip.decompress(out) == whole
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert unpacker.decompress(out) == whole and unpacker.eof and not unpacker.unused_data
    assert gzip.decompress(gzipped(b"")) == b""


def kept_text(piece: Deflated) -> bytes:
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(piece.blob)


def test_gzip_is_taken_only_when_the_client_says_so() -> None:
    assert accepts_gzip("gzip, deflate") and accepts_gzip("br, gzip;q=0.5") and accepts_gzip("*")
    assert not accepts_gzip("identity") and not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("") and not accepts_gzip("gzip;q=x")
