"""Client configuration: environment prefixes, the config file, endpoint lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from hangar.client import APIConfig, get_config, get_env, set_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("BACKEND_", "SORNA_", "HANGAR_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    set_config(None)


def write_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config" / "hangar" / "client.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)


def test_get_env_prefers_backend_then_sorna(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SORNA_DOMAIN", "old")
    assert get_env("domain") == "old"
    monkeypatch.setenv("BACKEND_DOMAIN", "new")
    assert get_env("domain") == "new"
    assert get_env("missing", "fallback", clean=str.upper) == "FALLBACK"
    with pytest.raises(KeyError):
        get_env("missing")


def test_defaults_without_any_configuration() -> None:
    config = APIConfig()
    assert str(config.endpoint) == "https://api.backend.ai"
    assert (config.endpoint_type, config.domain, config.group) == ("api", "default", "default")
    assert config.version == "v6.20220315"
    assert config.hash_type == "sha256"
    assert config.is_anonymous
    assert (config.connection_timeout, config.read_timeout) == (10.0, 0.0)


def test_the_file_written_by_the_server_is_read(tmp_path: Path) -> None:
    write_file(tmp_path, 'endpoint = "http://127.0.0.1:8090"\naccess_key = "AK"\n'
               'secret_key = "SK"\ndata_dir = "/x"\n')  # fmt: skip
    config = APIConfig()
    assert (str(config.endpoint), config.access_key, config.secret_key) == (
        "http://127.0.0.1:8090", "AK", "SK",
    )  # fmt: skip


def test_environment_beats_file_and_arguments_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file(tmp_path, 'endpoint = "http://file:1"\naccess_key = "FILE"\n')
    monkeypatch.setenv("BACKEND_ACCESS_KEY", "ENV")
    assert APIConfig().access_key == "ENV"
    assert APIConfig(access_key="ARG").access_key == "ARG"
    assert str(APIConfig().endpoint) == "http://file:1"


def test_endpoint_list_rotates_on_demand() -> None:
    config = APIConfig(endpoint="http://a:1, http://b:2")
    first = config.endpoint
    assert {str(e) for e in config.endpoints} == {"http://a:1", "http://b:2"}
    config.rotate_endpoints()
    assert config.endpoint != first
    config.rotate_endpoints()
    assert config.endpoint == first


@pytest.mark.parametrize("bad", ["not a url", "ftp://x", "/relative"])
def test_bad_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        APIConfig(endpoint=bad)


def test_session_mode_ignores_keys_and_unknown_types_are_refused() -> None:
    config = APIConfig(endpoint_type="session", access_key="x")
    assert config.access_key == "dummy"
    with pytest.raises(ValueError):
        APIConfig(endpoint_type="cookie")


def test_vfolder_mounts_merge_arguments_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_VFOLDER_MOUNTS", "b,c")
    assert list(APIConfig(vfolder_mounts=["a", "b"]).vfolder_mounts) == ["a", "b", "c"]


def test_skip_sslcert_validation_and_timeouts_from_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKEND_SKIP_SSLCERT_VALIDATION", "yes")
    monkeypatch.setenv("BACKEND_READ_TIMEOUT", "7.5")
    config = APIConfig()
    assert config.skip_sslcert_validation
    assert config.read_timeout == 7.5


def test_set_config_replaces_the_process_configuration() -> None:
    mine = APIConfig(endpoint="http://mine:1")
    set_config(mine)
    assert get_config() is mine
