"""Settings for a test's own in-process server: one helper, flat names as in ``HANGAR_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hangar.settings import Settings


def settings_for(root: Path, database_url: str, **flat: Any) -> Settings:
    """Settings whose data dir and client config lie under ``root``; ``flat`` sets more by
    their flat names (``agent_runtime="fake"``), which the groups read as
    ``settings.agent.runtime``."""
    return Settings(
        data_dir=root / "data",
        database_url=database_url,
        client_config_path=root / "client.toml",
        **flat,
    )
