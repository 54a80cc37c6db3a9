"""``server.info`` and ``debug.ping``: what tools ask before they log in."""

from __future__ import annotations

from typing import Any

from hangar import __version__
from hangar.api.clearml.envelope import API_VERSION, SERVER_VERSION
from hangar.api.clearml.registry import Call, endpoint


@endpoint("server.info", auth=False)
async def info(call: Call) -> dict[str, Any]:
    return {
        "version": SERVER_VERSION,
        "build": f"hangar-{__version__}",
        "commit": "",
        "api_version": API_VERSION,
        "uid": call.services.identity.signing_key("clearml-uid")[:16].hex(),
    }


@endpoint("debug.ping", auth=False)
async def ping(call: Call) -> dict[str, Any]:
    del call
    return {"msg": "ClearML server (Hangar)"}
