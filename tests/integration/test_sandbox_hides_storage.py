"""No sandbox sees the storage hosts' directories: folders reach a session only through its
own mounts, also for a local storage host outside the data dir (whose files belong to the
sandbox user, so a visible tree would let any session read every folder)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


@pytest.fixture
def nas_server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    # Not under /tmp, /home or /root: sandboxes never see those anyway.
    nas = Path(tempfile.mkdtemp(prefix="hangar-nas-", dir="/var/tmp"))
    nas.chmod(0o755)  # as an operator's /srv/nas usually is
    server = LiveServer(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={
            "HANGAR_STORAGE_HOSTS": json.dumps({"nas": {"backend": "local", "path": str(nas)}}),
            "HANGAR_DEFAULT_STORAGE_HOST": "nas",
        },
    )
    server.start()
    try:
        yield server, nas
    finally:
        server.stop()
        shutil.rmtree(nas, ignore_errors=True)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_sessions_see_folders_only_through_their_mounts(
    nas_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    server, nas = nas_server
    ok(server.official("vfolder", "create", "private", "nas"))
    (tmp_path / "secret.txt").write_text("top secret\n")
    ok(server.official("vfolder", "upload", "private", "secret.txt", cwd=tmp_path))
    assert list(nas.rglob("secret.txt"))  # the folder's file is on the host

    probe = (
        "import os\n"
        f"root = {str(nas)!r}\n"
        "found = [f for d, _, fs in os.walk(root) for f in fs]\n"
        "print('SEEN', os.path.isdir(root) and sorted(os.listdir(root)), found)\n"
    )
    done = server.official("run", "--rm", "-c", probe, "python")
    seen = done.stdout + done.stderr
    assert done.returncode == 0 and ("SEEN [] []" in seen or "SEEN False []" in seen), seen

    mounted = ok(server.official("run", "--rm", "-m", "private", "-c",
                                 "print(open('private/secret.txt').read())", "python"))  # fmt: skip
    assert "top secret" in mounted
