"""The client config that ``hangar server`` writes on first start.

Two files side by side, both mode 0600: ``client.toml`` for Hangar's own CLI and SDK, and
``client.env`` with ``export BACKEND_...`` lines for the official Backend.AI client.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ClientConfig:
    endpoint: str
    access_key: str
    secret_key: str
    data_dir: str

    def to_toml(self) -> str:
        lines = ["# Written by `hangar server`. Keep it private: it holds a secret key.", ""]
        lines += [f"{k} = {json.dumps(v)}" for k, v in asdict(self).items()]
        return "\n".join(lines) + "\n"

    def to_env(self) -> str:
        return (
            f"export BACKEND_ENDPOINT={self.endpoint}\n"
            "export BACKEND_ENDPOINT_TYPE=api\n"
            f"export BACKEND_ACCESS_KEY={self.access_key}\n"
            f"export BACKEND_SECRET_KEY='{self.secret_key}'\n"
        )


def env_path(toml_path: Path) -> Path:
    return toml_path.with_name("client.env")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write(path: Path, config: ClientConfig) -> None:
    _write_private(path, config.to_toml())
    _write_private(env_path(path), config.to_env())


def read(path: Path) -> ClientConfig | None:
    try:
        data = tomllib.loads(path.read_text())
        return ClientConfig(
            data["endpoint"], data["access_key"], data["secret_key"], data["data_dir"]
        )
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
