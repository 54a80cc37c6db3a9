"""Virtual folders end to end: the seed's storage walkthrough with the official CLI, read-only
sharing into sessions, resumable uploads over a real socket, symlinks planted by sessions."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

HOSTS = json.dumps({"mynas": {"backend": "local"}})


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"HANGAR_STORAGE_HOSTS": HOSTS},
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def ok(done: object) -> str:
    out = done.stdout + done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 0, out  # type: ignore[attr-defined]
    return out


def new_user(server: LiveServer, email: str) -> dict[str, str]:
    done = server.hangar(
        "admin", "user", "create", "--email", email, "--password", "a-good-password"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    keys = dict(re.findall(r"(Access|Secret) key:\s*(\S+)", done.stdout))
    return {"BACKEND_ACCESS_KEY": keys["Access"], "BACKEND_SECRET_KEY": keys["Secret"]}


def batch(server: LiveServer, cwd: Path, script: str, *mounts: str, **env: str) -> str:
    (cwd / "main.py").write_text(script)
    args = [a for m in mounts for a in ("-m", m)]
    done = server.official(
        "run", "--rm", *args, "--exec", "python main.py", "python", "main.py", cwd=cwd, **env
    )
    return done.stdout + done.stderr


def test_seed_storage_walkthrough(server: LiveServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    data = os.urandom(5 * 1024 * 1024 + 3)
    (work / "bigdata.csv").write_bytes(data)

    hosts = ok(server.official("vfolder", "list-hosts"))
    assert "Default vfolder host: local" in hosts and "mynas" in hosts
    assert 'Virtual folder "mydata1" is created.' in ok(
        server.official("vfolder", "create", "mydata1", "mynas")
    )
    listing = ok(server.official("vfolder", "list"))
    assert "mydata1" in listing and "mynas" in listing
    assert "Done." in ok(server.official("vfolder", "upload", "mydata1", "./bigdata.csv", cwd=work))
    assert "bigdata.csv" in ok(server.official("vfolder", "ls", "mydata1", ".", cwd=work))

    out = batch(
        server,
        work,
        "import hashlib\n"
        "data = open('/home/work/mydata1/bigdata.csv', 'rb').read()\n"
        "open('/home/work/mydata1/bigresult.txt', 'w').write(hashlib.sha256(data).hexdigest())\n"
        "print('wrote', len(data))\n",
        "mydata1",
    )
    assert f"wrote {len(data)}" in out and "exit code = 0" in out, out
    ok(server.official("vfolder", "download", "mydata1", "./bigresult.txt", cwd=work))
    assert (work / "bigresult.txt").read_text() == hashlib.sha256(data).hexdigest()

    # Read-only sharing: the other user reads it, in the CLI and in a session, and cannot write.
    bob = new_user(server, "bob@example.com")
    assert "bob@example.com" in ok(
        server.official("vfolder", "invite", "mydata1", "bob@example.com", "-p", "ro")
    )
    accepted = ok(server.official("vfolder", "invitations", input="1\na\n", **bob))
    assert "You can now access vfolder mydata1" in accepted
    bob_dir = tmp_path / "bob"
    bob_dir.mkdir()
    ok(server.official("vfolder", "download", "mydata1", "./bigresult.txt", cwd=bob_dir, **bob))
    assert (bob_dir / "bigresult.txt").read_text() == hashlib.sha256(data).hexdigest()
    (bob_dir / "mine.txt").write_text("nope")
    refused = server.official("vfolder", "upload", "mydata1", "./mine.txt", cwd=bob_dir, **bob)
    assert refused.returncode != 0 and "read-only" in refused.stdout + refused.stderr
    out = batch(
        server,
        bob_dir,
        "import os\n"
        "print('read', len(open('/home/work/mydata1/bigdata.csv', 'rb').read()))\n"
        "try:\n"
        "    open('/home/work/mydata1/hack.txt', 'w').write('x')\n"
        "except OSError as exc:\n"
        "    print('write refused:', exc.strerror)\n",
        "mydata1",
        **bob,
    )
    assert f"read {len(data)}" in out and "write refused: Read-only file system" in out, out
    assert "hack.txt" not in ok(server.official("vfolder", "ls", "mydata1", "."))

    assert "Done." in ok(
        server.official("vfolder", "rm", "mydata1", "./bigdata.csv", input="y\n", cwd=work)
    )
    ok(server.official("vfolder", "delete", "mydata1"))
    gone = server.official("vfolder", "info", "mydata1")
    assert gone.returncode != 0 and "No such virtual folder" in gone.stdout + gone.stderr


def test_mount_alias_ssh_folder_and_dotfiles(server: LiveServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    ok(server.official("vfolder", "create", ".ssh"))
    ok(server.official("vfolder", "upload", ".ssh", "authorized_keys", cwd=work))
    ok(server.official("vfolder", "create", "models"))
    (work / "rc").write_text("export GREETING=hello\n")
    ok(server.official("dotfile", "create", ".hangarrc", "-f", str(work / "rc"), "--perm", "644"))
    out = batch(
        server,
        work,
        "import os, stat\n"
        "print('alias', os.path.isdir('/home/work/m'), os.path.exists('/home/work/models'))\n"
        "st = os.stat('/home/work/.ssh/authorized_keys')\n"
        "print('ssh', oct(stat.S_IMODE(os.stat('/home/work/.ssh').st_mode)),"
        " oct(stat.S_IMODE(st.st_mode)))\n"
        "print('dotfile', open('/home/work/.hangarrc').read().strip(),"
        " oct(stat.S_IMODE(os.stat('/home/work/.hangarrc').st_mode)))\n",
        "models:m",
    )
    assert "alias True False" in out, out
    assert "ssh 0o700 0o600" in out, out
    assert "dotfile export GREETING=hello 0o644" in out, out
    too_many = server.official(
        "run", "--rm", *[a for n in range(6) for a in ("-m", f"f{n}")], "-c", "1", "python"
    )
    assert too_many.returncode != 0 or "at most 5" in too_many.stdout + too_many.stderr


def _request(server: LiveServer, method: str, path: str, body: object) -> dict[str, str]:
    response = server.signed(method, path, body)
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def test_interrupted_upload_resumes_where_it_stopped(server: LiveServer) -> None:
    ok(server.official("vfolder", "create", "big"))
    data = os.urandom(24 * 1024 * 1024)
    ticket = _request(
        server, "POST", "/folders/big/request-upload", {"path": "blob.bin", "size": len(data)}
    )
    url = urlsplit(ticket["url"])
    sent = 9 * 1024 * 1024 + 123
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            f"PATCH {url.path}?token={ticket['token']} HTTP/1.1\r\n"
            f"Host: {url.netloc}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            "Content-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:sent])
    # the connection broke; the bytes that arrived are kept
    upload_url = f"{ticket['url']}?token={ticket['token']}"
    deadline = time.monotonic() + 10
    offset = -1
    while time.monotonic() < deadline:
        offset = int(httpx.head(upload_url).headers["upload-offset"])
        if offset == sent:
            break
        time.sleep(0.05)
    assert offset == sent
    listing = ok(server.official("vfolder", "ls", "big", "."))
    assert "blob.bin" not in listing  # a partial upload is never a file
    done = httpx.patch(
        upload_url,
        content=data[offset:],
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset)},
        timeout=60,
    )
    assert done.status_code == 204 and done.headers["upload-offset"] == str(len(data))
    ticket = _request(server, "POST", "/folders/big/request-download", {"path": "blob.bin"})
    got = httpx.get(ticket["url"], params={"token": ticket["token"]}, timeout=60)
    assert got.headers["content-length"] == str(len(data))
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(data).digest()


def _slow_get(url: str, token: str, first: int, last: int) -> bytes:
    """GET bytes ``first``..``last`` over a socket with a small receive buffer, pausing
    every 256 KiB: the server's writes back up behind a reader slower than its disk."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.sendall(
            f"GET {parts.path}?token={token} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Range: bytes={first}-{last}\r\nConnection: close\r\n\r\n".encode()
        )
        received, paused_at = bytearray(), 0
        while piece := sock.recv(16 * 1024):
            received += piece
            if len(received) - paused_at >= 256 * 1024:
                paused_at = len(received)
                time.sleep(0.01)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206"), head
    return body


def test_downloads_to_slow_readers_are_byte_exact(server: LiveServer) -> None:
    """The server reuses its read buffers; bytes still queued for a slow socket must never
    be overwritten by the next read (two slow readers at once, ranges off chunk bounds)."""
    ok(server.official("vfolder", "create", "big"))
    data = os.urandom(6 * 1024 * 1024 + 5)
    ticket = _request(
        server, "POST", "/folders/big/request-upload", {"path": "blob.bin", "size": len(data)}
    )
    done = httpx.patch(
        f"{ticket['url']}?token={ticket['token']}",
        content=data,
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
        timeout=60,
    )
    assert done.status_code == 204
    spans = [(0, len(data) - 1), (1_000_003, 5_500_000)]
    got: dict[tuple[int, int], bytes] = {}

    def fetch(span: tuple[int, int]) -> None:
        ticket = _request(server, "POST", "/folders/big/request-download", {"path": "blob.bin"})
        got[span] = _slow_get(ticket["url"], ticket["token"], *span)

    threads = [threading.Thread(target=fetch, args=(span,)) for span in spans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for first, last in spans:
        body = got[(first, last)]
        assert len(body) == last + 1 - first
        assert hashlib.sha256(body).digest() == hashlib.sha256(data[first : last + 1]).digest()


def test_symlinks_planted_inside_a_session_are_not_followed(
    server: LiveServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ok(server.official("vfolder", "create", "data"))
    out = batch(
        server,
        work,
        "import os\n"
        "os.symlink('/etc/passwd', '/home/work/data/passwd')\n"
        "os.symlink('/', '/home/work/data/root')\n"
        "print('planted')\n",
        "data",
    )
    assert "planted" in out, out
    for path in ("passwd", "root/etc/passwd"):
        before = set(work.iterdir())
        done = server.official("vfolder", "download", "data", path, cwd=work)
        assert done.returncode != 0, done.stdout
        assert "symbolic link" in done.stdout + done.stderr
        assert set(work.iterdir()) == before
    listing = server.official("vfolder", "ls", "data", "root")  # this CLI command exits 0
    assert "symbolic link" in listing.stdout + listing.stderr


def test_clone_rescan_and_mount_host_with_the_official_cli(
    server: LiveServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    ok(server.official("vfolder", "create", "models", "--cloneable"))
    ok(server.official("vfolder", "upload", "models", "weights.bin", cwd=work))
    cloned = ok(server.official("vfolder", "clone", "models", "models2", "local"))
    assert "Cloning the vfolder is complete." in cloned, cloned
    assert "Error" not in cloned
    assert "weights.bin" in ok(server.official("vfolder", "ls", "models2", "."))

    rescan = ok(server.official("admin", "image", "rescan"))
    assert "Finished registry scanning." in rescan, rescan

    mount = server.official("admin", "vfolder", "mount-host", "10.0.0.1:/nas", "nas")
    assert mount.returncode != 0
    assert "storage_hosts" in mount.stdout + mount.stderr


def test_sessions_get_absolute_mounts_scoped_dotfiles_and_quota(
    server: LiveServer, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for scope, args in (
        ("domain", ["-d", "default"]),
        ("group", ["-g", "default", "-d", "default"]),
    ):
        (work / scope).write_text(scope)
        ok(server.official("dotfile", "create", ".who", "-f", str(work / scope), *args))
        ok(server.official("dotfile", "create", f".{scope}-only", "-f", str(work / scope), *args))
    (work / "user").write_text("user")
    ok(server.official("dotfile", "create", ".who", "-f", str(work / "user"), "--perm", "600"))
    ok(server.official("vfolder", "create", "data"))
    ok(server.official("vfolder", "create", "small", "-q", "1m"))

    out = batch(
        server,
        work,
        "import os\n"
        "print('who', open('/home/work/.who').read().strip())\n"
        "print('scopes', open('/home/work/.domain-only').read().strip(),"
        " open('/home/work/.group-only').read().strip())\n"
        "open('/data/set/from-session.txt', 'w').write('hi')\n"
        "print('abs', sorted(os.listdir('/data/set')))\n"
        "open('/home/work/small/big.bin', 'wb').write(b'x' * (2 << 20))\n"
        "print('wrote past the quota')\n",
        "data:/data/set",
        "small",
    )
    assert "who user" in out and "scopes domain group" in out, out
    assert "abs ['from-session.txt']" in out and "wrote past the quota" in out, out
    assert "from-session.txt" in ok(server.official("vfolder", "ls", "data", "."))

    # Over quota: uploads are refused, the next session mounts the folder read-only.
    info = server.signed("GET", "/folders/small", None).json()
    assert info["over_quota"] is True and info["used_bytes"] == 2 << 20
    (work / "more.txt").write_text("more")
    refused = server.official("vfolder", "upload", "small", "more.txt", cwd=work)
    assert refused.returncode != 0 and "over its quota" in refused.stdout + refused.stderr
    out = batch(
        server,
        work,
        "print('size', len(open('/home/work/small/big.bin', 'rb').read()))\n"
        "try:\n"
        "    open('/home/work/small/more.bin', 'w').write('x')\n"
        "except OSError as exc:\n"
        "    print('write refused:', exc.strerror)\n",
        "small",
    )
    assert f"size {2 << 20}" in out and "write refused: Read-only file system" in out, out
    ok(server.official("vfolder", "rm", "small", "big.bin", input="y\n"))
    ok(server.official("vfolder", "upload", "small", "more.txt", cwd=work))
