"""Seed 002's storage walkthrough (3.4) typed verbatim into ``hangar``: create on a named
host, upload, list, run a session that mounts the folder, download the result, share it
read-only with another user, delete."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

SCRIPT = (
    "import hashlib\n"
    "data = open('/home/work/mydata1/bigdata.csv', 'rb').read()\n"
    "open('/home/work/mydata1/bigresult.txt', 'w').write(hashlib.sha256(data).hexdigest())\n"
    "print('read', len(data))\n"
)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"HANGAR_STORAGE_HOSTS": json.dumps({"mynas": {"backend": "local"}})},
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def ok(done: subprocess.CompletedProcess[str]) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_seed_storage_walkthrough_with_hangar(server: LiveServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    data = os.urandom(4 * 1024 * 1024 + 5)
    (work / "bigdata.csv").write_bytes(data)
    (work / "main.py").write_text(SCRIPT)

    def hangar(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return server.hangar(*args, cwd=work, **env)

    ok(hangar("vfolder", "list"))
    ok(hangar("vfolder", "create", "mydata1", "mynas"))
    hosts = ok(hangar("vfolder", "list-hosts"))
    assert "mynas" in hosts and "local" in hosts
    listing = ok(hangar("vfolder", "list"))
    assert "mydata1" in listing and "mynas" in listing
    ok(hangar("vfolder", "upload", "mydata1", "./bigdata.csv"))
    assert "bigdata.csv" in ok(hangar("vfolder", "ls", "mydata1", "."))

    # 3.4.3: the seed's image name, its "..." standing for our batch options.
    out = ok(
        hangar(
            "run",
            "--rm",
            "-m",
            "mydata1",
            "python:3.6-ubuntu18.04",
            "--exec",
            "python main.py",
            "main.py",
        )  # fmt: skip
    )
    assert f"read {len(data)}" in out, out
    ok(hangar("vfolder", "download", "mydata1", "./bigresult.txt"))
    assert (work / "bigresult.txt").read_text() == hashlib.sha256(data).hexdigest()

    # Read-only sharing: bob reads the folder, in the CLI and in a session, and cannot write.
    created = server.hangar(
        "admin", "user", "create", "--email", "bob@example.com", "--password", "a-good-password"
    )
    keys = dict(re.findall(r"(Access|Secret) key:\s*(\S+)", ok(created)))
    bob = {"BACKEND_ACCESS_KEY": keys["Access"], "BACKEND_SECRET_KEY": keys["Secret"]}
    ok(hangar("vfolder", "invite", "mydata1", "bob@example.com", "--perm", "ro"))
    pending = json.loads(ok(hangar("--output", "json", "vfolder", "invitations", **bob)))
    items = pending["items"] if isinstance(pending, dict) else pending
    (invitation,) = [i for i in items if i["vfolder_name"] == "mydata1"]
    ok(hangar("vfolder", "accept-invitation", invitation["id"], **bob))
    (work / "bigresult.txt").unlink()
    ok(hangar("vfolder", "download", "mydata1", "./bigresult.txt", **bob))
    assert (work / "bigresult.txt").read_text() == hashlib.sha256(data).hexdigest()
    refused = hangar("vfolder", "upload", "mydata1", "./main.py", **bob)
    assert refused.returncode != 0 and "read-only" in refused.stdout + refused.stderr
    (work / "write.py").write_text(
        "try:\n"
        "    open('/home/work/mydata1/hack.txt', 'w').write('x')\n"
        "except OSError as exc:\n"
        "    print('write refused:', exc.strerror)\n"
    )
    out = ok(hangar("run", "--rm", "-m", "mydata1", "--exec", "python write.py", "python",
                    "write.py", **bob))  # fmt: skip
    assert "write refused: Read-only file system" in out, out

    ok(server.hangar("vfolder", "rm", "mydata1", "./bigdata.csv", input="y\n", cwd=work))
    assert "bigdata.csv" not in ok(hangar("vfolder", "ls", "mydata1", "."))
    ok(hangar("vfolder", "delete", "mydata1"))
    gone = hangar("vfolder", "info", "mydata1")
    assert gone.returncode != 0 and "No such virtual folder" in gone.stdout + gone.stderr
