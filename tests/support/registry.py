"""A real OCI distribution registry on loopback: Debian's ``docker-registry`` (distribution
2.8), anonymous or with htpasswd (bcrypt, from apache2-utils' ``htpasswd``) basic auth.

Images are pushed with Debian's ``skopeo`` from OCI layouts the tests build themselves
(tests/support/oci_images.py), so no test needs the internet or a Docker engine.
``start_registry`` raises ``RegistryUnavailable`` when the programs are missing;
``registry_holding`` is a module fixture's whole body: a registry holding the given images.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.oci_images import ImageBuild, Layout
from tests.support.token_service import TokenServer

REGISTRY = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
HTPASSWD = "/usr/bin/htpasswd"


class RegistryUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    root: Path  # where it keeps its files (data/ holds the blobs)
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def push(
        self, layout: Path, ref: str, *, tag: str = "latest", all_: bool = False, fmt: str = ""
    ) -> None:
        """Copy the OCI layout's image ``tag`` to ``<host>/<ref>`` with skopeo (``fmt``
        ``v2s2``: as a Docker schema 2 manifest)."""
        argv = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false"]
        argv += ["--all"] if all_ else []
        argv += ["--format", fmt] if fmt else []
        if self.username is not None:
            argv += ["--dest-creds", f"{self.username}:{self.password}"]
        argv += [f"oci:{layout}:{tag}", f"docker://{self.host}/{ref}"]
        subprocess.run(argv, check=True, capture_output=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(root: Path, port: int, htpasswd: Path | None, token: TokenServer | None) -> str:
    auth = ""
    if htpasswd is not None:
        auth = f"auth:\n  htpasswd:\n    realm: hangar-test\n    path: {htpasswd}\n"
    if token is not None:
        auth = (f"auth:\n  token:\n    realm: {token.realm}\n    service: {token.service}\n"
                f"    issuer: {token.issuer}\n    rootcertbundle: {token.cert_path}\n")  # fmt: skip
    return (
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RegistryUnavailable(f"docker-registry exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code in (200, 401):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RegistryUnavailable("docker-registry did not answer within 20 s")


@contextmanager
def start_registry(
    root: Path, *, username: str | None = None, password: str | None = None, token: bool = False
) -> Iterator[Registry]:
    """Run a registry storing under ``root``; with ``username`` it requires basic auth, or
    with ``token`` too, Bearer tokens from a token service (tests/support/token_service.py)
    that logs in with those credentials, as Docker Hub does."""
    for program in (REGISTRY, SKOPEO) + ((HTPASSWD,) if username else ()):
        if shutil.which(program) is None:
            raise RegistryUnavailable(f"{program} missing (apt-get install docker-registry "
                                      "skopeo apache2-utils)")  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    htpasswd = None
    tokens = TokenServer.start(root, username or "", password or "") if token else None
    if username is not None and tokens is None:
        htpasswd = root / "htpasswd"
        line = subprocess.run(
            [HTPASSWD, "-Bbn", username, password or ""], check=True, capture_output=True
        ).stdout
        htpasswd.write_bytes(line)
    port = _free_port()
    config = root / "config.yml"
    config.write_text(_config(root, port, htpasswd, tokens))
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        yield Registry(f"127.0.0.1:{port}", root, username, password)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if tokens is not None:
            tokens.stop()


def registry_holding(
    tmp_path_factory: pytest.TempPathFactory,
    images: Mapping[str, ImageBuild],
    *,
    username: str | None = None,
    password: str | None = None,
) -> Iterator[Registry]:
    """A module fixture's body (``yield from`` it): a registry on loopback holding
    ``images`` (``repository:tag`` -> build), with basic auth when ``username`` is given.
    Skips the module where the registry's programs are missing."""
    root = tmp_path_factory.mktemp("registry")
    try:
        with start_registry(root / "registry", username=username, password=password) as found:
            layout = Layout(root / "layout")
            for number, (reference, build) in enumerate(images.items()):
                layout.tag(layout.image(build), f"image-{number}")
                found.push(layout.root, reference, tag=f"image-{number}")
            yield found
    except RegistryUnavailable as exc:
        pytest.skip(str(exc))
