"""Exceptions of the SDK.

BackendError
├── BackendAPIError        the server answered with an error (status, reason, data)
├── BackendClientError     the request never got an answer: bad arguments, network failures
└── BackendAPIVersionError the operation needs a newer API version than the server speaks
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "APIVersionWarning",
    "BackendAPIError",
    "BackendAPIVersionError",
    "BackendClientError",
    "BackendError",
]

GENERIC_ERROR = "https://api.backend.ai/probs/generic-error"


class BackendError(Exception):
    """Exception type to catch all Backend.AI-related errors."""

    def __str__(self) -> str:
        return repr(self)


class BackendAPIError(BackendError):
    """An error returned by the API gateway; ``data`` is the parsed problem document."""

    def __init__(self, status: int, reason: str, data: Any) -> None:
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError:
                data = {
                    "type": GENERIC_ERROR,
                    "title": "Generic Error (could not parse error string)",
                    "content": data if isinstance(data, str) else data.decode(errors="replace"),
                }
        super().__init__(status, reason, data)

    @property
    def status(self) -> int:
        status: int = self.args[0]
        return status

    @property
    def reason(self) -> str:
        reason: str = self.args[1]
        return reason

    @property
    def data(self) -> Any:
        return self.args[2]

    @property
    def title(self) -> str:
        """The problem's title (or the HTTP reason when the body had none)."""
        if isinstance(self.data, dict):
            return str(self.data.get("title") or self.reason)
        return self.reason

    @property
    def message(self) -> str:
        """One line for people: title, plus the extra message when there is one."""
        text = self.title
        if isinstance(self.data, dict) and self.data.get("msg"):
            text = f"{text} {self.data['msg']}"
        return text


class BackendAPIVersionError(BackendError):
    """The operation or argument is not supported by the negotiated server API version."""


class BackendClientError(BackendError):
    """Errors from the client library: argument validation and connection failures."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class APIVersionWarning(UserWarning):
    """The server speaks a newer (or too old) API version than this client."""
