"""Version negotiation: ``GET /`` (api mode) and ``GET /func/`` (session mode)."""

from __future__ import annotations

from fastapi import APIRouter

from hangar.api.bai.signature import LATEST_VERSION

MANAGER_VERSION = "22.03.2"

router = APIRouter()


@router.get("/")
async def version() -> dict[str, str]:
    """Public. The official client requires ``version`` to be exactly its own API version."""
    return {"version": LATEST_VERSION, "manager": MANAGER_VERSION}
