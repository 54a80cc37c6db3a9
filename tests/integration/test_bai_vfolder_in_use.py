"""Folders that sessions use, with the official CLI: a folder a running session mounts is not
deleted from under it (the session would fail on a vanished mount), and a clone that fails
says why without naming host paths."""

from __future__ import annotations

import shutil
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
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(home=tmp_path / "home", database_url=database_url)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def ok(done: object) -> str:
    out = done.stdout + done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 0, out  # type: ignore[attr-defined]
    return out


def test_a_folder_mounted_by_a_running_session_is_not_deleted(
    server: LiveServer, tmp_path: Path
) -> None:
    ok(server.official("vfolder", "create", "data"))
    ok(server.official("start", "-t", "holder", "-m", "data", "python"))
    (session,) = server.sessions_alive()

    refused = server.official("vfolder", "delete", "data")
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out
    assert "is mounted on sessions: holder" in out and session["id"] in out, out
    assert "Terminate those sessions first" in out
    assert "data" in ok(server.official("vfolder", "list"))
    response = server.signed("DELETE", "/folders/data")
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-api-params")

    # The session still has its folder, and once it is gone the folder can go.
    ok(server.official("rm", "holder"))
    assert "Deleted." in ok(server.official("vfolder", "delete", "data"))
    assert "data" not in ok(server.official("vfolder", "list"))


def test_a_failed_clone_names_no_host_path(server: LiveServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ok(server.official("vfolder", "create", "deep", "--cloneable"))
    (work / "main.py").write_text(
        "import os\n"
        "os.chdir('/home/work/deep')\n"
        "for _ in range(300):\n"
        "    os.mkdir('d')\n"
        "    os.chdir('d')\n"
        "print('nested')\n"
    )
    ran = server.official(
        "run", "--rm", "-m", "deep", "--exec", "python main.py", "python", "main.py", cwd=work
    )
    assert "nested" in ran.stdout + ran.stderr, ran.stdout + ran.stderr

    cloned = server.official("vfolder", "clone", "deep", "copy", "local")
    out = cloned.stdout + cloned.stderr
    assert "Cannot clone the folder: Cannot copy d/d/d/" in out, out
    assert "more than 256 directories deep" in out
    assert str(tmp_path) not in out and "vfolders/" not in out
    assert "copy" not in [line.split()[0] for line in ok(server.official("vfolder", "list"))
                          .splitlines()[2:] if line.split()]  # fmt: skip
