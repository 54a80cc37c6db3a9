"""The attack of issue 20 end to end: code in a sandboxed session swaps a directory of its
folder with a symlink to a host directory in a loop (``renameat2(RENAME_EXCHANGE)``) while
the owner clones the folder with the official CLI. No clone may hold the root-only host
file, and the host directory must stay as it was."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir(),
        reason="python3-ipykernel is not installed",
    ),
]

CLONES = 8
SECRET = b"ROOT ONLY CANARY"

# Runs in the session: a thread that swaps ``swap`` and ``link`` for a bounded time.
RACE = """
import ctypes, os, threading, time
os.chdir('/home/work/src')
os.mkdir('swap')
for n in range(20):
    open(f'swap/f{n}', 'w').write('mine')
os.symlink(TARGET, 'link')
libc = ctypes.CDLL(None, use_errno=True)
def race():
    end = time.monotonic() + 60
    while time.monotonic() < end:
        libc.renameat2(-100, b'swap', -100, b'link', 2)
threading.Thread(target=race, daemon=True).start()
print('racing')
"""

START = """
from ai.backend.client.session import Session
with Session() as s:
    kern = s.ComputeSession.get_or_create('python', name='racer', mounts=['src'])
    result = kern.execute(None, CODE, mode='query')
    print(result['status'], result.get('console'))
"""


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(home=tmp_path / "home", database_url=database_url)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def state(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    seen = {str(directory): (directory.lstat().st_mode, directory.lstat().st_uid, b"")}
    for entry in directory.iterdir():
        st = entry.lstat()
        seen[str(entry)] = (st.st_mode, st.st_uid, entry.read_bytes())
    return seen


def test_a_session_racing_a_clone_gets_no_host_file(server: LiveServer, tmp_path: Path) -> None:
    private = tmp_path / "outside" / "private"
    private.mkdir(mode=0o700, parents=True)
    (private / "secret").write_bytes(SECRET)
    (private / "secret").chmod(0o600)
    before = state(private)
    done = server.official("vfolder", "create", "src", "--cloneable")
    assert done.returncode == 0, done.stdout + done.stderr

    code = RACE.replace("TARGET", repr(str(private)))
    script = START.replace("CODE", repr(textwrap.dedent(code)))
    started = server.official_python(script)
    assert "racing" in started.stdout, started.stdout + started.stderr
    try:
        outputs = [
            server.official("vfolder", "clone", "src", f"copy{n}", "local") for n in range(CLONES)
        ]
    finally:
        server.official("rm", "racer")

    for done in outputs:
        out = done.stdout + done.stderr
        assert str(server.data_dir) not in out and str(private) not in out, out
    folders = server.data_dir / "storage" / "local" / "vfolders"
    assert folders.is_dir()
    leaked = [
        Path(directory, name)
        for directory, _dirs, names in os.walk(folders)
        for name in names
        if name == "secret" or SECRET in Path(directory, name).read_bytes()
    ]
    assert leaked == []
    assert state(private) == before
    # The race was on: clones hold the swapped directory's files, under either name.
    copies = [p for p in folders.glob("*/*") if p.name != folder_dir(server)]
    assert any((p / "swap" / "f0").is_file() or (p / "link" / "f0").is_file() for p in copies)


def folder_dir(server: LiveServer) -> str:
    """The storage directory name of the folder ``src`` (its id without dashes)."""
    folders = server.signed("GET", "/folders").json()
    return next(f["id"].replace("-", "") for f in folders if f["name"] == "src")
