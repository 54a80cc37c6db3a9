"""The UI's session event stream ends once its viewer is signed out (unit, in-process bus)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from hangar.core.errors import AuthFailed
from hangar.core.events import InProcessBus
from hangar.core.principal import Credential, CredentialKind, Principal, Role
from hangar.ui import events
from hangar.ui.context import Viewer


class Identity:
    def __init__(self) -> None:
        self.signed_in = True

    async def caller_for_login(self, token: str) -> None:
        if not self.signed_in:
            raise AuthFailed("Login session expired")


async def no_sessions(*_: Any, **__: Any) -> Any:
    return SimpleNamespace(items=[], total=0)


async def test_stream_pings_while_signed_in_and_ends_after_sign_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "PING_SECONDS", 0.01)
    identity = Identity()
    reads = SimpleNamespace(sessions=SimpleNamespace(session_page=no_sessions))
    services: Any = SimpleNamespace(bus=InProcessBus(), identity=identity, reads=reads)
    principal = Principal(uuid.uuid4(), "a@b.c", "default", Role.USER,
                          Credential(CredentialKind.BAI_KEYPAIR, "AKTEST"))  # fmt: skip
    stream = events.stream(services, Viewer(principal, "token", "csrf"))
    assert (await anext(stream)).startswith(": subscribed")
    assert await anext(stream) == events.PING
    identity.signed_in = False
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
