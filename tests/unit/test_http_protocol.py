"""The uvicorn and httptools internals that hangar.http_protocol builds on.

GuardedProtocol overrides hooks of uvicorn 0.54's HttpToolsProtocol and relies on how
httptools reports an exception raised in a parser callback. If an upgrade changes any of
that, these tests fail before the limits silently stop working: re-read
src/hangar/http_protocol.py against the new uvicorn, then update the pins here.
"""

from __future__ import annotations

import inspect

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hangar.http_protocol import GuardedProtocol, HttpLimits, guarded_protocol

HOOKS = {
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "send_400_response": ["self", "msg"],
    "handle_websocket_upgrade": ["self"],
}


def test_uvicorn_is_the_version_the_protocol_was_written_for() -> None:
    assert uvicorn.__version__ == "0.54.0"


@pytest.mark.parametrize(("name", "params"), sorted(HOOKS.items()))
def test_the_overridden_hooks_still_exist_with_their_parameters(
    name: str, params: list[str]
) -> None:
    hook = getattr(HttpToolsProtocol, name)
    assert list(inspect.signature(hook).parameters) == params
    assert getattr(GuardedProtocol, name) is not hook


def test_the_attributes_the_protocol_reads_are_set_by_uvicorn() -> None:
    source = inspect.getsource(HttpToolsProtocol.__init__)
    for attribute in ("self.loop", "self.cycle", "self.transport", "self.client"):
        assert f"{attribute} =" in source or f"{attribute}:" in source
    assert httptools_impl.STATUS_LINE[431].startswith(b"HTTP/1.1 431 ")
    data_received = inspect.getsource(HttpToolsProtocol.data_received)
    assert "except httptools.HttpParserError" in data_received
    assert "self.send_400_response(" in data_received


def test_a_callback_exception_stops_the_parser_as_a_parser_error() -> None:
    class Stop(Exception):
        pass

    class Callbacks:
        def on_header(self, name: bytes, value: bytes) -> None:
            raise Stop()

    parser = httptools.HttpRequestParser(Callbacks())
    with pytest.raises(httptools.HttpParserError) as caught:
        parser.feed_data(b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\n\r\n")
    assert isinstance(caught.value.__context__, Stop)


def test_each_server_gets_its_own_connection_counts() -> None:
    one, two = guarded_protocol(HttpLimits()), guarded_protocol(HttpLimits())
    assert one.open_by_client is not two.open_by_client
