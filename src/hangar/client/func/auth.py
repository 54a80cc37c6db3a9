"""Auth: logging in and out of session-mode endpoints, changing the password."""

from __future__ import annotations

from typing import Any

from hangar.client import state
from hangar.client.exceptions import BackendClientError
from hangar.client.func.base import BaseFunction


class Auth(BaseFunction):
    """Login session management (``endpoint_type="session"``) and password changes."""

    @classmethod
    async def login(cls, user_id: str, password: str) -> dict[str, Any]:
        """Log in; on success the cookies are kept for later runs.

        Returns the server's answer, ``{"authenticated": bool, "data": {...}}``.
        """
        session = cls._session()
        if session.config.endpoint_type != "session":
            raise BackendClientError("Login needs endpoint_type 'session'.")
        result: dict[str, Any] = await cls._call(
            "POST", "/server/login", json={"username": user_id, "password": password}
        )
        if result.get("authenticated"):
            cookies = {k: v for k, v in session.http.cookies.items()}
            state.save_cookies(str(session.config.endpoint), cookies, username=user_id)
        return result

    @classmethod
    async def logout(cls) -> None:
        """Log out and forget the saved cookies."""
        session = cls._session()
        try:
            await cls._call("POST", "/server/logout")
        finally:
            session.http.cookies.clear()
            state.save_cookies(str(session.config.endpoint), {})

    @classmethod
    async def update_password(
        cls, old_password: str, new_password: str, new_password2: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = await cls._call(
            "POST",
            "/auth/update-password",
            json={
                "old_password": old_password,
                "new_password": new_password,
                "new_password2": new_password2,
            },
        )
        return result or {}
