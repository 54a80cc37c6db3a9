"""Manager: status, freezing, announcements and scheduler operations."""

from __future__ import annotations

from typing import Any

from hangar.client.func.base import BaseFunction


class Manager(BaseFunction):
    """Control of the manager (changes need a superadmin keypair)."""

    @classmethod
    async def status(cls) -> dict[str, Any]:
        result: dict[str, Any] = await cls._call(
            "GET", "/manager/status", json={"status": "running"}
        )
        return result

    @classmethod
    async def freeze(cls, force_kill: bool = False) -> None:
        """Refuse new sessions and writes until :meth:`unfreeze`."""
        await cls._call(
            "PUT", "/manager/status", json={"status": "frozen", "force_kill": force_kill}
        )

    @classmethod
    async def unfreeze(cls) -> None:
        await cls._call("PUT", "/manager/status", json={"status": "running"})

    @classmethod
    async def get_announcement(cls) -> dict[str, Any]:
        """``{"enabled": bool, "message": str}``."""
        result: dict[str, Any] = await cls._call("GET", "/manager/announcement")
        return result

    @classmethod
    async def update_announcement(cls, enabled: bool = True, message: str | None = None) -> None:
        await cls._call(
            "POST", "/manager/announcement", json={"enabled": enabled, "message": message}
        )

    @classmethod
    async def scheduler_op(cls, op: str, args: Any) -> None:
        """``op`` is ``include-agents`` or ``exclude-agents``; ``args`` the agent ids."""
        await cls._call("POST", "/manager/scheduler/operation", json={"op": op, "args": args})
