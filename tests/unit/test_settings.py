from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from hangar.settings import LogFormat, Settings, flat_names


def test_defaults_work_on_a_laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "share" / "hangar"
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{settings.data_dir}/hangar.db"
    assert settings.resolved_client_config_path == tmp_path / "config" / "hangar" / "client.toml"
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8090)
    assert settings.server.url_for_clients() == "http://127.0.0.1:8090"


def test_environment_then_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "hangar.toml"
    toml.write_text('port = 9000\nlog_format = "json"\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("HANGAR_CONFIG_FILE", str(toml))
    monkeypatch.setenv("HANGAR_PORT", "9100")
    settings = Settings(data_dir=tmp_path)
    assert settings.server.port == 9100  # the environment wins over the file
    assert settings.server.log_format is LogFormat.JSON
    # never 0.0.0.0 to clients
    assert settings.server.url_for_clients(9100) == "http://127.0.0.1:9100"
    assert Settings(data_dir=tmp_path, port=1234).server.port == 1234  # arguments win over both


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


def test_flat_names_everywhere_values_come_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Environment variables, the TOML file and keyword arguments keep their flat names; code
    reads them in groups."""
    toml = tmp_path / "hangar.toml"
    toml.write_text('executor_image = "from-file"\nendpoint_task_concurrency = 4\n')
    monkeypatch.setenv("HANGAR_CONFIG_FILE", str(toml))
    monkeypatch.setenv("HANGAR_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("HANGAR_AGENT_HIDDEN_PATHS", '["/srv/shared"]')
    monkeypatch.setenv("HANGAR_STORAGE_HOSTS", '{"nas": {"backend": "local", "path": "/nas"}}')
    monkeypatch.setenv("HANGAR_SESSION_NETWORK", "none")
    monkeypatch.setenv("HANGAR_ENDPOINT_WEBHOOK_RETRY_SECONDS", "[1, 2]")
    settings = Settings(data_dir=tmp_path, agent_runtime="fake", session_default_disk="2g")
    assert settings.database.url == "postgresql+asyncpg://u@h/db"
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"
    assert settings.agent.hidden_paths == [Path("/srv/shared")]
    assert settings.storage.hosts["nas"].path == Path("/nas")
    assert settings.sandbox.network == "none"
    assert settings.endpoints.webhook_retry_seconds == [1.0, 2.0]
    assert settings.executor.image == "from-file"
    assert settings.endpoints.task_concurrency == 4
    assert settings.agent.runtime == "fake"
    assert settings.sessions.default_disk_bytes == 2 * 1024**3
    assert Path("/srv/shared") in settings.sandbox_hidden_paths()


def test_every_flat_name_has_one_place() -> None:
    names = flat_names()
    assert len(names) >= 72  # every setting but data_dir, each in exactly one group
    assert names["port"] == ("server", "port")
    assert names["executor_sdk_path"] == ("executor", "sdk_path")
    assert names["tracking_files_quota_bytes"] == ("tracking", "files_quota_bytes")
    assert len(set(names.values())) == len(names)


def test_bad_value_names_its_flat_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGAR_ENDPOINT_TASK_CONCURRENCY", "0")
    with pytest.raises(ValidationError, match="endpoint_task_concurrency"):
        Settings(data_dir=tmp_path)


def test_every_variable_the_docs_name_is_a_setting() -> None:
    """README and docs name environment variables that the settings read (flat names)."""
    root = Path(__file__).resolve().parents[2]
    texts = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    named = {m for p in texts for m in re.findall(r"HANGAR_([A-Z0-9_]*[A-Z0-9])\b", p.read_text())}
    not_settings = {"CONFIG_FILE", "TEST_WORKERS", "TEST_POSTGRES_URL"}
    known = {name.upper() for name in flat_names()} | {"DATA_DIR"}
    assert named - not_settings - known == set()
