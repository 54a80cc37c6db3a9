"""A run's files on the host (code from git or a standalone script) and the launcher that
runs in the session, here without a sandbox against a stand-in for the API."""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor import workspace as ws


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=root)
    (root / "src" / "train.py").write_text("print('v1')\n")
    git("add", ".", cwd=root)
    git("commit", "-q", "-m", "one", cwd=root)
    (root / "src" / "train.py").write_text("print('v2')\n")
    git("commit", "-q", "-am", "two", cwd=root)
    return root


def test_code_from_a_local_repository_at_a_commit_with_the_diff(repo: Path, tmp_path: Path) -> None:
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=repo)
    diff = "--- a/src/train.py\n+++ b/src/train.py\n@@ -1 +1 @@\n-print('v1')\n+print('v1+diff')\n"
    code = p.code_plan({"repository": str(repo), "version_num": first, "diff": diff,
                        "entry_point": "train.py", "working_dir": "src"})  # fmt: skip
    ws.fetch_code(code, tmp_path / "out", local=True)
    assert (tmp_path / "out" / "src" / "train.py").read_text() == "print('v1+diff')\n"


def test_branch_head_is_fetched(repo: Path, tmp_path: Path) -> None:
    code = p.code_plan({"repository": f"file://{repo}", "branch": "main",
                        "entry_point": "train.py", "working_dir": "src"})  # fmt: skip
    ws.fetch_code(code, tmp_path / "out", local=True)
    assert (tmp_path / "out" / "src" / "train.py").read_text() == "print('v2')\n"


def test_local_repositories_need_the_setting(repo: Path, tmp_path: Path) -> None:
    code = p.code_plan({"repository": str(repo), "entry_point": "train.py"})
    with pytest.raises(ws.CodeUnavailable, match="executor_local_repos"):
        ws.fetch_code(code, tmp_path / "out", local=False)


def test_unknown_commit_says_git_failed(repo: Path, tmp_path: Path) -> None:
    code = p.code_plan({"repository": str(repo), "version_num": "f" * 40, "entry_point": "x.py"})
    with pytest.raises(ws.CodeUnavailable, match="git checkout failed"):
        ws.fetch_code(code, tmp_path / "out", local=True)


class _Api(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    received: list[tuple[str, str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Any = self.server
        server.received.append((self.path, self.headers["Authorization"], body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        del args


@pytest.fixture
def api(tmp_path: Path) -> Iterator[_Api]:
    server = _Api(str(tmp_path / "api.sock"), _Handler)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def launch(tmp_path: Path, script: str, **extra: Any) -> subprocess.CompletedProcess[str]:
    code = tmp_path / "task" / "code"
    code.mkdir(parents=True)
    (code / "job.py").write_text(script)
    spec = {
        "task": "t" * 32, "worker": "hangar:default", "api_socket": str(tmp_path / "api.sock"),
        "api_port": 0, "access_key": "AK", "secret_key": "SK", "code": str(code),
        "working_dir": "", "argv": ["job.py"], "requirements": [], "pip_args": [],
        "sdk": None, "env": {"FROM_TASK": "yes"}, **extra,
    }  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    home = tmp_path / "home"
    home.mkdir()
    return subprocess.run(
        [sys.executable, ws.launch.__file__, str(tmp_path / "spec.json")],
        env={"PATH": os.environ["PATH"], "HOME": str(home)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_launcher_runs_the_script_and_sends_its_output_as_log_events(
    tmp_path: Path, api: _Api
) -> None:
    script = (
        "import os, sys, urllib.request\n"
        "print('hello', os.environ['FROM_TASK'], os.environ['CLEARML_TASK_ID'][:4])\n"
        "print('oops', file=sys.stderr)\n"
        "url = os.environ['CLEARML_API_HOST'] + '/debug.ping'\n"
        "print(urllib.request.urlopen(urllib.request.Request(url, data=b'{}')).read())\n"
        "sys.exit(5)\n"
    )
    done = launch(tmp_path, script)
    assert done.returncode == 5, done.stderr
    assert "hello yes tttt" in done.stdout
    assert "oops" in done.stderr
    paths = [path for path, _, _ in api.received]
    assert "/debug.ping" in paths  # the relay reached the API socket
    events = [json.loads(line) for path, auth, body in api.received
              if path == "/events.add_batch" for line in body.splitlines()]  # fmt: skip
    messages = {(e["level"], e["msg"]) for e in events}
    assert ("info", "hello yes tttt") in messages
    assert ("error", "oops") in messages
    assert all(e["type"] == "log" and e["task"] == "t" * 32 for e in events)
    auths = {auth for path, auth, _ in api.received if path == "/events.add_batch"}
    assert auths == {"Basic QUs6U0s="}  # AK:SK


def test_launcher_reports_a_setup_failure(tmp_path: Path, api: _Api) -> None:
    done = launch(tmp_path, "print(1)\n", working_dir="missing/dir")
    assert done.returncode == 1
    assert "could not prepare the task: the working dir 'missing/dir'" in done.stderr
    events = [body for path, _, body in api.received if path == "/events.add_batch"]
    assert b"could not prepare the task" in b"".join(events)
