from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hangar.settings import LogFormat, Settings


def test_defaults_work_on_a_laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "share" / "hangar"
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{settings.data_dir}/hangar.db"
    assert settings.resolved_client_config_path == tmp_path / "config" / "hangar" / "client.toml"
    assert (settings.host, settings.port) == ("127.0.0.1", 8090)
    assert settings.url_for_clients() == "http://127.0.0.1:8090"


def test_environment_then_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "hangar.toml"
    toml.write_text('port = 9000\nlog_format = "json"\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("HANGAR_CONFIG_FILE", str(toml))
    monkeypatch.setenv("HANGAR_PORT", "9100")
    settings = Settings(data_dir=tmp_path)
    assert settings.port == 9100  # the environment wins over the file
    assert settings.log_format is LogFormat.JSON
    assert settings.url_for_clients(9100) == "http://127.0.0.1:9100"  # never 0.0.0.0 to clients
    assert Settings(data_dir=tmp_path, port=1234).port == 1234  # arguments win over both


def test_bad_values_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGAR_PORT", "70000")
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path)
    monkeypatch.delenv("HANGAR_PORT")
    monkeypatch.setenv("HANGAR_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path)


def test_server_key_is_secret_in_reprs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, server_key="c2VjcmV0")
    assert "c2VjcmV0" not in repr(settings)
