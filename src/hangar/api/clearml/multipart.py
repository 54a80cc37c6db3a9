"""A multipart/form-data body read as it arrives, each part's bytes handed on at once.

Starlette's form parsing spools every file part to a temporary file before the handler sees
it; the file server instead writes each part straight into its staging file, so an upload of
any size costs one pass over the bytes and a few buffers of memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hangar.core.errors import InvalidRequest

MAX_HEADER_BYTES = 16 << 10


class PartSink(Protocol):
    """Where the parts go: :meth:`start` with the part's name, then its bytes."""

    async def start(self, name: str) -> None: ...

    def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class _Events:
    """What the parser reported during one ``write``, in order (its callbacks are
    synchronous; the sink's ``start`` is not)."""

    items: list[tuple[str, bytes]]
    field: bytearray
    value: bytearray
    headers: dict[bytes, bytes]


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data content type. Raises InvalidRequest."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Upload files as multipart/form-data, one part per file.")
    return boundary


def part_name(headers: dict[bytes, bytes]) -> str:
    """The name of a part (its ``name``, else its ``filename``). Raises InvalidRequest."""
    _disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
    raw = params.get(b"name") or params.get(b"filename")
    if not raw:
        raise InvalidRequest("A part of the upload has no name.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("A part's name is not UTF-8.") from None


def _parser(boundary: bytes, events: _Events) -> MultipartParser:
    def on_header_field(data: bytes, start: int, end: int) -> None:
        events.field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        events.value += data[start:end]
        if len(events.field) + len(events.value) > MAX_HEADER_BYTES:
            raise InvalidRequest("A part's headers are too long.")

    def on_header_end() -> None:
        events.headers[bytes(events.field).lower()] = bytes(events.value)
        events.field.clear()
        events.value.clear()

    def on_headers_finished() -> None:
        events.items.append(("start", part_name(events.headers).encode()))
        events.headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        events.items.append(("data", bytes(data[start:end])))

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    return MultipartParser(boundary, callbacks)  # type: ignore[arg-type]


async def read_parts(stream: AsyncIterator[bytes], boundary: bytes, sink: PartSink) -> int:
    """Feed the body to ``sink`` part by part; returns the number of parts. Raises
    InvalidRequest for a malformed body."""
    events = _Events([], bytearray(), bytearray(), {})
    parser = _parser(boundary, events)
    parts = 0
    try:
        async for chunk in stream:
            parser.write(chunk)
            parts += await _deliver(events, sink)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequest(f"Malformed multipart body: {exc}") from None
    parts += await _deliver(events, sink)
    return parts


async def _deliver(events: _Events, sink: PartSink) -> int:
    started = 0
    for kind, payload in events.items:
        if kind == "start":
            await sink.start(payload.decode())
            started += 1
        else:
            sink.write(payload)
    events.items.clear()
    return started
