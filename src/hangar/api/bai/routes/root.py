"""Version negotiation: ``GET /`` (api mode) and ``GET /func/`` (session mode)."""

from __future__ import annotations

from starlette.requests import Request

from hangar.api.bai.signature import LATEST_VERSION
from hangar.api.common.routing import Router

MANAGER_VERSION = "22.03.2"

router = Router()


@router.get("/")
async def version(request: Request) -> dict[str, str]:
    """Public. The official client requires ``version`` to be exactly its own API version."""
    return {"version": LATEST_VERSION, "manager": MANAGER_VERSION}
