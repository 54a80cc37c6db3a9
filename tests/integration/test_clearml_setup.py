"""Setting up the ClearML SDK against Hangar: the first start writes a ready clearml.conf and
CLEARML_* lines in client.env and prints the three URLs; `hangar admin clearml credentials`
issues credentials for another user. Each works with the official SDK as written."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.clearml import CLEARML_PYTHON, clearml_env, new_user
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

WHOAMI = """
import json
from clearml.backend_api import Session
from clearml.backend_api.session.token_manager import TokenManager
session = Session()
print(json.dumps({"host": session.host, "web": Session.get_app_server_host(),
                  "files": Session.get_files_server_host(),
                  "identity": TokenManager.get_decoded_token(session.token)["identity"]}))
"""


def bare_env(server: LiveServer) -> dict[str, str]:
    """A clean HOME and no CLEARML_* variable: only what the user sources or points at."""
    env = clearml_env(server)
    return {k: v for k, v in env.items() if not k.startswith("CLEARML_")}


def whoami(command: list[str], env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def config_dir(server: LiveServer) -> Path:
    return server.home / "config" / "hangar"


def test_first_start_writes_clearml_conf_and_env_lines(clearml_live: LiveServer) -> None:
    folder = config_dir(clearml_live)
    conf, env_file = folder / "clearml.conf", folder / "client.env"
    for path in (conf, env_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    endpoint = clearml_live.endpoint
    lines = env_file.read_text().splitlines()
    assert f"export CLEARML_API_HOST={endpoint}" in lines
    assert f"export CLEARML_FILES_HOST={endpoint}/files" in lines
    assert f"export CLEARML_API_ACCESS_KEY={clearml_live.access_key}" in lines
    log = clearml_live.log_path.read_text()
    assert f"api_server {endpoint}  web_server {endpoint}  files_server {endpoint}/files" in log
    assert "CLEARML_CONFIG_FILE=" in log  # the panel may wrap the line
    script = folder / "whoami.py"
    script.write_text(WHOAMI)
    sourced = whoami(
        ["bash", "-c", f"source {env_file} && exec {CLEARML_PYTHON} {script}"],
        bare_env(clearml_live),
    )
    assert (sourced["host"], sourced["web"]) == (endpoint, endpoint)
    assert sourced["files"] == endpoint + "/files"
    configured = whoami(
        [str(CLEARML_PYTHON), str(script)],
        {**bare_env(clearml_live), "CLEARML_CONFIG_FILE": str(conf)},
    )
    assert configured == sourced


def test_admin_issues_clearml_credentials_for_a_user(
    clearml_live: LiveServer, tmp_path: Path
) -> None:
    new_user(clearml_live, "carol@setup.test")
    conf = tmp_path / "carol.conf"
    done = clearml_live.hangar(
        "admin", "clearml", "credentials", "--email", "carol@setup.test", "--conf", str(conf)
    )
    assert done.returncode == 0, done.stderr
    assert f"export CLEARML_API_HOST={clearml_live.endpoint}" in done.stdout
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    script = tmp_path / "whoami.py"
    script.write_text(WHOAMI)
    found = whoami(
        [str(CLEARML_PYTHON), str(script)],
        {**bare_env(clearml_live), "CLEARML_CONFIG_FILE": str(conf)},
    )
    assert found["identity"]["user_name"] == "carol@setup.test"
    unknown = clearml_live.hangar("admin", "clearml", "credentials", "--email", "nobody@setup.test")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
