"""What the client keeps between runs: the login cookies of session-mode endpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hangar"


def cookie_path() -> Path:
    return state_dir() / "cookies.json"


def load_cookies(endpoint: str) -> dict[str, str]:
    """The cookies saved for ``endpoint`` (empty when none)."""
    try:
        data: dict[str, Any] = json.loads(cookie_path().read_text())
    except (OSError, ValueError):
        return {}
    saved = data.get(endpoint, {})
    return {str(k): str(v) for k, v in saved.get("cookies", {}).items()}


def save_cookies(endpoint: str, cookies: dict[str, str], username: str | None = None) -> None:
    """Remember ``cookies`` for ``endpoint`` in a private file (mode 0600)."""
    path = cookie_path()
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if cookies:
        data[endpoint] = {"cookies": cookies, "username": username}
    else:
        data.pop(endpoint, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
