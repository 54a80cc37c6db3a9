"""gzip for the face's large answers, when the client accepts it (the SDK and the agent
send ``Accept-Encoding: gzip, deflate``; the reference server compresses too).

An answer is written as one gzip member that can take in pieces deflated beforehand: a
kept scalar history (see ``history_cache``) is deflated once and spliced into each answer
that sends it. That works because each such piece is a run of deflate blocks started and
ended on a full flush (byte-aligned, referring to nothing outside itself), and the gzip
trailer's CRC-32 is combined from the pieces' own CRCs.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

LEVEL = 1  # speed over size: these answers are mostly repeated keys, ~10x smaller at level 1
MIN_BYTES = 4096  # smaller answers go as they are
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # gzip, deflate, no name, no time


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (q above zero)."""
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return False
    return False


@dataclass(frozen=True, slots=True)
class Deflated:
    """Text deflated on its own: full-flushed raw deflate blocks, its CRC-32 and length."""

    blob: bytes
    crc: int
    size: int

    @classmethod
    def of(cls, text: bytes) -> Deflated:
        squeezer = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        blob = squeezer.compress(text) + squeezer.flush(zlib.Z_FULL_FLUSH)
        return cls(blob, zlib.crc32(text), len(text))


class GzipWriter:
    """One gzip member written piece by piece: :meth:`text` for plain bytes,
    :meth:`deflated` for a piece deflated beforehand, :meth:`end` for the trailer."""

    def __init__(self) -> None:
        self._squeezer = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        self._started = False

    def _head(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return HEADER

    def text(self, data: bytes, *, flush: bool = True) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        out = self._squeezer.compress(data)
        if flush:  # the client gets what is written so far
            out += self._squeezer.flush(zlib.Z_SYNC_FLUSH)
        return self._head() + out

    def deflated(self, piece: Deflated) -> bytes:
        # a full flush aligns the stream and forgets what came before: nothing written
        # after the piece may refer back across it
        out = self._squeezer.flush(zlib.Z_FULL_FLUSH)
        self._crc = crc32_combine(self._crc, piece.crc, piece.size)
        self._size += piece.size
        return self._head() + out + piece.blob

    def end(self) -> bytes:
        trailer = struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF)
        return self._head() + self._squeezer.flush(zlib.Z_FINISH) + trailer


def gzipped(body: bytes) -> bytes:
    writer = GzipWriter()
    return writer.text(body, flush=False) + writer.end()


def _times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from A's, B's and B's length (zlib's ``crc32_combine``: the
    operator "append one zero bit" squared up to each bit of the length, in GF(2))."""
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << (n - 1) for n in range(1, 32)]  # one zero bit
    even = _square(odd)  # two
    odd = _square(even)  # four
    while True:
        even = _square(odd)
        if length2 & 1:
            crc1 = _times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _square(even)
        if length2 & 1:
            crc1 = _times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2
