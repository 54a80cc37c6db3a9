"""Client configuration: :class:`APIConfig`, the environment and the config file.

A value comes from, in order: the constructor argument, the ``BACKEND_<KEY>`` (then
``SORNA_<KEY>``) environment variable, the client config file that ``hangar server`` writes
(``$HANGAR_CLIENT_CONFIG_PATH`` or ``$XDG_CONFIG_HOME/hangar/client.toml``), the default.
"""

from __future__ import annotations

import os
import random
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from httpx import URL

from hangar import __version__
from hangar.client.utils import Undefined, undefined

__all__ = [
    "API_VERSION",
    "DEFAULT_CHUNK_SIZE",
    "MIN_API_VERSION",
    "APIConfig",
    "client_config_path",
    "get_config",
    "get_env",
    "parse_api_version",
    "read_config_file",
    "set_config",
]

API_VERSION = (6, "20220315")
MIN_API_VERSION = (5, "20191215")
DEFAULT_CHUNK_SIZE = 16 * (2**20)
ENDPOINT_TYPES = ("api", "session")

T = TypeVar("T")


def parse_api_version(value: str) -> tuple[int, str]:
    """``"v6.20220315"`` → ``(6, "20220315")``; raises ValueError on anything else."""
    match = re.search(r"^v(?P<major>\d+)\.(?P<date>\d{8})$", value)
    if match is None:
        raise ValueError("Could not parse the given API version string", value)
    return int(match.group("major")), match.group("date")


def default_clean(v: Any) -> Any:
    return v


def get_env(
    key: str,
    default: str | Mapping[str, Any] | Undefined = undefined,
    *,
    clean: Callable[[Any], T] = default_clean,
) -> T:
    """Look ``key`` up as ``BACKEND_<KEY>``, then ``SORNA_<KEY>``.

    Returns ``clean(value)`` (also applied to ``default`` when the variable is absent).
    Raises KeyError when it is absent and no default was given.
    """
    key = key.upper()
    raw = os.environ.get("BACKEND_" + key)
    if raw is None:
        raw = os.environ.get("SORNA_" + key)
    if raw is not None:
        return clean(raw)
    if isinstance(default, Undefined):
        raise KeyError(key)
    return clean(default)


def bool_env(v: str | bool) -> bool:
    if isinstance(v, bool):
        return v
    lowered = v.lower()
    if lowered in ("y", "yes", "t", "true", "1", "on"):
        return True
    if lowered in ("n", "no", "f", "false", "0", "off", ""):
        return False
    raise ValueError("Unrecognized value of boolean environment variable", v)


def _clean_urls(v: URL | str | Sequence[str | URL]) -> list[URL]:
    if isinstance(v, URL):
        return [v]
    entries = v.split(",") if isinstance(v, str) else list(v)
    urls = []
    for entry in entries:
        url = URL(str(entry).strip())
        if not url.is_absolute_url or url.scheme not in ("http", "https"):
            raise ValueError(f"Endpoint URL {str(entry).strip()!r} is not an absolute http(s) URL.")
        urls.append(url)
    if not urls:
        raise ValueError("No endpoint URL given.")
    return urls


def _clean_tokens(v: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in v.split(",") if t.strip())


def _clean_address_map(v: str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(v, Mapping):
        return dict(v)
    result: dict[str, str] = {}
    for assignment in v.split(","):
        if not assignment.strip():
            continue
        k, _, target = assignment.partition("=")
        if not k or not target:
            raise ValueError(f"{assignment!r} is not a valid mapping expression (X=Y).")
        result[k] = target
    return result


def client_config_path() -> Path:
    """Where ``hangar server`` writes the client config for this user."""
    explicit = os.environ.get("HANGAR_CLIENT_CONFIG_PATH")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hangar" / "client.toml"


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    """The client config file as a dict; empty when it is missing or unreadable."""
    try:
        data = tomllib.loads((path or client_config_path()).read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return data


def default_user_agent() -> str:
    return f"Hangar Client for Python {__version__}"


class APIConfig:
    """A set of API client configurations.

    ``endpoint`` may list several URLs separated by commas (or be a sequence): they are taken
    to front one cluster; the client spreads load over them (their order is shuffled once)
    and fails over to the next one when a connection cannot be made, so callers see a
    network error only when every endpoint fails. ``endpoint_type`` is ``"api"`` (HMAC-signed
    requests with the keypair) or ``"session"`` (cookie login through ``Auth.login``).
    An access key deliberately set to ``""`` makes anonymous requests.
    """

    DEFAULTS: Mapping[str, str | Mapping[str, str]] = {
        "endpoint": "https://api.backend.ai",
        "endpoint_type": "api",
        "version": f"v{API_VERSION[0]}.{API_VERSION[1]}",
        "hash_type": "sha256",
        "domain": "default",
        "group": "default",
        "storage_proxy_address_map": {},
        "connection_timeout": "10.0",
        "read_timeout": "0",
    }
    """Defaults of the settings that environment variables can set (keys excepted)."""

    def __init__(
        self,
        *,
        endpoint: URL | str | Sequence[str] | None = None,
        endpoint_type: str | None = None,
        domain: str | None = None,
        group: str | None = None,
        storage_proxy_address_map: Mapping[str, str] | None = None,
        version: str | None = None,
        user_agent: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        hash_type: str | None = None,
        vfolder_mounts: Iterable[str] | None = None,
        skip_sslcert_validation: bool | None = None,
        connection_timeout: float | None = None,
        read_timeout: float | None = None,
        announcement_handler: Callable[[str], None] | None = None,
    ) -> None:
        file = read_config_file()

        def pick(value: Any, key: str, clean: Callable[[Any], T]) -> T:
            if value is not None:
                return clean(value)
            default = file.get(key, self.DEFAULTS.get(key, ""))
            return get_env(key, default, clean=clean)

        self._endpoints = pick(endpoint, "endpoint", _clean_urls)
        random.shuffle(self._endpoints)
        self._endpoint_type = pick(endpoint_type, "endpoint_type", str)
        if self._endpoint_type not in ENDPOINT_TYPES:
            raise ValueError(
                f"endpoint_type must be 'api' or 'session', not {self._endpoint_type!r}"
            )
        self._domain = pick(domain, "domain", str)
        self._group = pick(group, "group", str)
        self._storage_proxy_address_map = pick(
            storage_proxy_address_map, "override_storage_proxy", _clean_address_map
        )
        self._version = version if version is not None else str(self.DEFAULTS["version"])
        parse_api_version(self._version)
        self._user_agent = user_agent if user_agent is not None else default_user_agent()
        if self._endpoint_type == "api":
            self._access_key = pick(access_key, "access_key", str)
            self._secret_key = pick(secret_key, "secret_key", str)
        else:
            self._access_key = self._secret_key = "dummy"
        self._hash_type = (hash_type or str(self.DEFAULTS["hash_type"])).lower()
        env_mounts = get_env("VFOLDER_MOUNTS", "", clean=_clean_tokens)
        self._vfolder_mounts = list(dict.fromkeys([*(vfolder_mounts or ()), *env_mounts]))
        self._skip_sslcert_validation = bool(skip_sslcert_validation) or get_env(
            "SKIP_SSLCERT_VALIDATION", "no", clean=bool_env
        )
        self._connection_timeout = pick(connection_timeout, "connection_timeout", float)
        self._read_timeout = pick(read_timeout, "read_timeout", float)
        self._announcement_handler = announcement_handler

    @property
    def is_anonymous(self) -> bool:
        return self._access_key == ""

    @property
    def endpoint(self) -> URL:
        """The active endpoint; changes when it fails and another one is configured."""
        return self._endpoints[0]

    @property
    def endpoints(self) -> Sequence[URL]:
        """All configured endpoint URLs, the active one first."""
        return tuple(self._endpoints)

    def rotate_endpoints(self) -> None:
        """Make the next endpoint the active one (after a connection failure)."""
        if len(self._endpoints) > 1:
            self._endpoints.append(self._endpoints.pop(0))

    def load_balance_endpoints(self) -> None:
        """Hook called after each request; the order is only changed by failures."""

    @property
    def endpoint_type(self) -> str:
        return self._endpoint_type

    @property
    def domain(self) -> str:
        return self._domain

    @property
    def group(self) -> str:
        return self._group

    @property
    def storage_proxy_address_map(self) -> Mapping[str, str]:
        """Storage proxy URLs to replace (returned URL → URL to use)."""
        return self._storage_proxy_address_map

    @property
    def user_agent(self) -> str:
        return self._user_agent

    @property
    def access_key(self) -> str:
        return self._access_key

    @property
    def secret_key(self) -> str:
        return self._secret_key

    @property
    def version(self) -> str:
        return self._version

    @property
    def hash_type(self) -> str:
        return self._hash_type

    @property
    def vfolder_mounts(self) -> Sequence[str]:
        return tuple(self._vfolder_mounts)

    @property
    def skip_sslcert_validation(self) -> bool:
        return self._skip_sslcert_validation

    @property
    def connection_timeout(self) -> float:
        return self._connection_timeout

    @property
    def read_timeout(self) -> float:
        """Seconds to wait for response bytes; 0 waits without limit."""
        return self._read_timeout

    @property
    def announcement_handler(self) -> Callable[[str], None] | None:
        return self._announcement_handler


_config: APIConfig | None = None


def get_config() -> APIConfig:
    """The process-wide configuration, built from the environment on first use."""
    global _config
    if _config is None:
        _config = APIConfig()
    return _config


def set_config(conf: APIConfig | None) -> None:
    """Set (or with ``None``, forget) the process-wide configuration."""
    global _config
    _config = conf
