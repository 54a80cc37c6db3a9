"""Hangar settings: one object, built once at start-up and passed down.

Values come, in order of precedence, from keyword arguments, ``HANGAR_*`` environment
variables, and an optional TOML file named by ``HANGAR_CONFIG_FILE``. Every default works
on a laptop: an embedded SQLite database and local storage under ``data_dir``.

Names are flat where values come in (``HANGAR_EXECUTOR_IMAGE``, ``executor_image = ...`` in the
file, ``Settings(executor_image=...)``) and grouped where code reads them
(``settings.executor.image``): each group in ``groups.py`` keeps a field's flat name as its alias.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hangar.settings.groups import (
    AgentSettings,
    AuthSettings,
    DatabaseSettings,
    HttpSettings,
    ImageSettings,
    LogFormat,
    SandboxSettings,
    ServerSettings,
    SessionSettings,
)
from hangar.settings.services import (
    EndpointSettings,
    ExecutorSettings,
    StorageHostConfig,
    StorageSettings,
    TrackingSettings,
)

__all__ = [
    "AgentSettings",
    "AuthSettings",
    "DatabaseSettings",
    "EndpointSettings",
    "ExecutorSettings",
    "HttpSettings",
    "ImageSettings",
    "LogFormat",
    "SandboxSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "StorageHostConfig",
    "StorageSettings",
    "TrackingSettings",
    "flat_names",
    "load_settings",
]

GROUPS: dict[str, type[BaseModel]] = {
    "server": ServerSettings,
    "http": HttpSettings,
    "database": DatabaseSettings,
    "auth": AuthSettings,
    "agent": AgentSettings,
    "sandbox": SandboxSettings,
    "images": ImageSettings,
    "sessions": SessionSettings,
    "storage": StorageSettings,
    "executor": ExecutorSettings,
    "tracking": TrackingSettings,
    "endpoints": EndpointSettings,
}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hangar"


def flat_names() -> dict[str, tuple[str, str]]:
    """Every grouped field by its flat name: ``{"executor_image": ("executor", "image")}``."""
    return {
        (info.alias or field): (group, field)
        for group, model in GROUPS.items()
        for field, info in model.model_fields.items()
    }


class _FlatBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANGAR_", extra="ignore")


# The flat shape the sources read (names and types only; the groups validate).
_Flat: type[BaseSettings] = create_model(  # type: ignore[call-overload]
    "_Flat",
    __base__=_FlatBase,
    data_dir=(Path | None, None),
    **{
        flat: (GROUPS[group].model_fields[field].annotation, None)
        for flat, (group, field) in flat_names().items()
    },
)


class Settings(BaseSettings):
    """Everything the server, the embedded agent and the local admin commands read."""

    model_config = SettingsConfigDict(env_prefix="HANGAR_", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Root of all state: database, storage, scratch dirs, logs, server key.",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    endpoints: EndpointSettings = Field(default_factory=EndpointSettings)

    @model_validator(mode="before")
    @classmethod
    def _group_flat_names(cls, data: Any) -> Any:
        """Flat names (``port``, ``executor_image``) go into their groups."""
        if not isinstance(data, dict):
            return data
        names = flat_names()
        nested: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                group, _field = names[key]
                target = nested.setdefault(group, {})
                if isinstance(target, dict):
                    target[key] = value
            else:
                nested[key] = value
        return nested

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Every source reads flat names, as before the groups existed.
        sources: list[PydanticBaseSettingsSource] = [init_settings, EnvSettingsSource(_Flat)]
        toml_file = os.environ.get("HANGAR_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(_Flat, toml_file=toml_file))
        return tuple(sources)

    # Derived locations -------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir / 'hangar.db'}"

    @property
    def server_key_path(self) -> Path:
        return self.data_dir / "server.key"

    @property
    def agent_token_path(self) -> Path:
        return self.data_dir / "agent-token"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"

    @property
    def resolved_client_config_path(self) -> Path:
        if self.server.client_config_path is not None:
            return self.server.client_config_path
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "hangar" / "client.toml"

    def local_storage_roots(self) -> dict[str, Path]:
        """The directory of every local storage host (``local`` is always one)."""
        configs = {"local": StorageHostConfig(backend="local"), **self.storage.hosts}
        return {
            name: (config.path or self.storage_dir / name).expanduser().resolve()
            for name, config in configs.items()
            if config.backend == "local"
        }

    def sandbox_hidden_paths(self) -> tuple[Path, ...]:
        """What no sandbox may see: the data dir, every local storage host's directory (folders
        are bound in one by one) and ``agent_hidden_paths``."""
        roots = self.local_storage_roots().values()
        hidden = (p.expanduser().resolve() for p in self.agent.hidden_paths)
        return (self.data_dir, *roots, *hidden)

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.log_dir, self.storage_dir, self.scratch_dir):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; keyword arguments (flat names) win over the environment and
    the file."""
    return Settings(**overrides)
