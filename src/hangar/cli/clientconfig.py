"""The client config that ``hangar server`` writes on first start.

Three files side by side, all mode 0600: ``client.toml`` for Hangar's own CLI and SDK,
``client.env`` with ``export BACKEND_...`` lines for the official Backend.AI client and
``export CLEARML_...`` lines for the official ClearML SDK, and ``clearml.conf`` for the ClearML
SDK (``CLEARML_CONFIG_FILE``, or copied to ``~/clearml.conf``). A ClearML credential is a
Hangar keypair: the same keys serve both.
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
    api_key: str = ""  # the GPU-cloud face's X-Api-Key (YOTTA_API_KEY)

    def to_toml(self) -> str:
        lines = ["# Written by `hangar server`. Keep it private: it holds a secret key.", ""]
        lines += [f"{k} = {json.dumps(v)}" for k, v in asdict(self).items()]
        return "\n".join(lines) + "\n"

    @property
    def files_server(self) -> str:
        """The ClearML file server: served by the same server under ``/files``."""
        return self.endpoint + "/files"

    def to_env(self) -> str:
        return (
            f"export BACKEND_ENDPOINT={self.endpoint}\n"
            "export BACKEND_ENDPOINT_TYPE=api\n"
            f"export BACKEND_ACCESS_KEY={self.access_key}\n"
            f"export BACKEND_SECRET_KEY='{self.secret_key}'\n"
            f"export CLEARML_API_HOST={self.endpoint}\n"
            f"export CLEARML_WEB_HOST={self.endpoint}\n"
            f"export CLEARML_FILES_HOST={self.files_server}\n"
            f"export CLEARML_API_ACCESS_KEY={self.access_key}\n"
            f"export CLEARML_API_SECRET_KEY='{self.secret_key}'\n"
        ) + (
            f"export YOTTA_BASE_URL={self.endpoint}\nexport YOTTA_API_KEY={self.api_key}\n"
            if self.api_key
            else ""
        )

    def to_clearml_conf(self) -> str:
        """The ClearML SDK's configuration (HOCON): the three servers and the credential."""
        return (
            "# Written by `hangar server`. Keep it private: it holds a secret key.\n"
            "# Use it with CLEARML_CONFIG_FILE=<this file>, or copy it to ~/clearml.conf.\n"
            "api {\n"
            f"    api_server: {json.dumps(self.endpoint)}\n"
            f"    web_server: {json.dumps(self.endpoint)}\n"
            f"    files_server: {json.dumps(self.files_server)}\n"
            "    credentials {\n"
            f"        access_key: {json.dumps(self.access_key)}\n"
            f"        secret_key: {json.dumps(self.secret_key)}\n"
            "    }\n"
            "}\n"
        )


def env_path(toml_path: Path) -> Path:
    return toml_path.with_name("client.env")


def clearml_conf_path(toml_path: Path) -> Path:
    return toml_path.with_name("clearml.conf")


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
    _write_private(clearml_conf_path(path), config.to_clearml_conf())


def write_clearml_conf(path: Path, config: ClientConfig) -> None:
    _write_private(path, config.to_clearml_conf())


def read(path: Path) -> ClientConfig | None:
    try:
        data = tomllib.loads(path.read_text())
        return ClientConfig(
            data["endpoint"],
            data["access_key"],
            data["secret_key"],
            data["data_dir"],
            str(data.get("api_key", "")),
        )
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
