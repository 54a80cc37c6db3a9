"""A real S3-compatible server for tests: SeaweedFS ``weed mini`` on loopback ports.

Telemetry is off and every listener binds 127.0.0.1. ``start_s3`` returns None when the
binary cannot run on this machine (tests then skip the S3 leg and say why).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY = "hangar-test"
SECRET_KEY = "hangar-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [s.getsockname()[1] for s in sockets]
    for sock in sockets:
        sock.close()
    return ports


def weed_binary() -> str | None:
    found = str(WEED) if WEED.exists() else shutil.which("weed")
    if found is None:
        return None
    try:
        subprocess.run([found, "version"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found


def _launch(binary: str, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    names = ("master", "volume", "filer", "s3", "admin")
    free = _free_ports(len(names) * 2)  # one call: no port handed out twice
    ports, grpc = (
        dict(zip(names, free[::2], strict=True)),
        dict(zip(names, free[1::2], strict=True)),
    )
    args = [
        binary, "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
    ]  # fmt: skip
    for name in names:
        args += [f"-{name}.port={ports[name]}", f"-{name}.port.grpc={grpc[name]}"]
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "HOME": str(directory),
    }
    with (directory / "weed.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log, env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{ports['s3']}"


def _ready(proc: subprocess.Popen[bytes], endpoint: str, deadline: float) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(endpoint, timeout=1)
            return True
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def s3_server(directory: Path, timeout: float = 60.0) -> Iterator[S3Server | None]:
    """The server, or None where it cannot run. A start that fails (a port taken by another
    process between the probe and the bind, as parallel test workers may) is tried again."""
    binary = weed_binary()
    if binary is None:
        yield None
        return
    deadline = time.monotonic() + timeout
    for _ in range(3):
        proc, endpoint = _launch(binary, directory)
        if _ready(proc, endpoint, deadline):
            try:
                yield S3Server(endpoint)
            finally:
                _stop(proc)
            return
        _stop(proc)
    yield None
