"""Session file transfer: POST /session/{s}/upload, GET download / download_single / files."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import secrets
import stat
import tarfile
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from hangar.agent.models import ContainerStats, FileEntry, KernelRequest, NodeInfo
from hangar.api.bai.routes.session_files import MAX_UPLOAD_FILE_BYTES, MAX_UPLOAD_PARTS
from hangar.api.common.errors import DRAIN_LIMIT
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"
HOME = "/home/work"


class DirectoryAgent:
    """An agent whose kernels are plain directories: /home/work of kernel K is root/K.

    Only what these tests need is implemented; path rules follow the agent contract
    (escapes and missing paths are refused with the core's errors).
    """

    agent_id = "i-files-test"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads: list[list[tuple[str, bytes]]] = []

    def home(self, kernel_id: uuid.UUID) -> Path:
        return self.root / str(kernel_id)

    def resolve(self, kernel_id: uuid.UUID, path: str) -> Path:
        home = self.home(kernel_id).resolve()
        relative = path[len(HOME) :].lstrip("/") if path.startswith(HOME) else path
        if Path(relative).is_absolute():
            raise InvalidRequest("Path escapes /home/work")
        target = (home / relative).resolve()
        if target != home and home not in target.parents:
            raise InvalidRequest("Path escapes /home/work")
        return target

    async def info(self) -> NodeInfo:
        return NodeInfo(self.agent_id, {"cpu": Decimal(4), "mem": Decimal(8 << 30)})

    async def create_kernel(self, request: KernelRequest) -> None:
        self.home(request.kernel_id).mkdir(parents=True)

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        return ContainerStats()

    async def logs(self, kernel_id: uuid.UUID) -> str:
        return ""

    async def upload(self, kernel_id: uuid.UUID, files: Sequence[tuple[str, bytes]]) -> None:
        self.uploads.append(list(files))
        for name, data in files:
            target = self.resolve(kernel_id, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    async def download(self, kernel_id: uuid.UUID, paths: Sequence[str]) -> list[bytes]:
        archives = []
        for path in paths:
            target = self.resolve(kernel_id, path)
            if not target.exists():
                raise InvalidRequest("The file is not found.")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                tar.add(target, arcname=target.name)
            archives.append(buffer.getvalue())
        return archives

    async def list_files(self, kernel_id: uuid.UUID, path: str) -> tuple[str, list[FileEntry]]:
        target = self.resolve(kernel_id, path)
        if not target.is_dir():
            raise NotFound("directory", "No such file or directory.")
        entries = []
        for child in sorted(target.iterdir()):
            st = child.stat()
            entries.append(
                FileEntry(
                    child.name,
                    st.st_size,
                    stat.filemode(st.st_mode),
                    st.st_ctime,
                    st.st_mtime,
                    st.st_atime,
                )
            )
        relative = target.relative_to(self.home(kernel_id).resolve())
        return str(PurePosixPath(HOME) / relative.as_posix()), entries


@pytest.fixture
async def agent(services: Services, tmp_path: Path) -> AsyncIterator[DirectoryAgent]:
    fake = DirectoryAgent(tmp_path / "kernels")
    await services.agents.register(fake)  # type: ignore[arg-type]
    await services.start_loops(embedded_agent=False)  # the fake stands in for it
    yield fake


@pytest.fixture
async def session(client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent) -> str:
    body = json.dumps({"name": "files-test", "image": "python"})
    response = await client.post(
        "/session",
        content=body,
        headers=admin.headers("POST", "/session", content_type="application/json"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "RUNNING"
    return str(response.json()["sessionId"])


def home_of(agent: DirectoryAgent, session_id: str) -> Path:
    return agent.home(uuid.UUID(session_id))


def multipart(parts: Sequence[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A form-data body as the client builds it (filenames already percent-encoded)."""
    boundary = secrets.token_hex(12)
    chunks = []
    for filename, data in parts:
        chunks.append(
            f"--{boundary}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f'Content-Disposition: form-data; name="src"; filename="{filename}"\r\n'
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


async def upload(
    client: httpx.AsyncClient, admin: Signer, parts: Sequence[tuple[str, bytes]]
) -> httpx.Response:
    ctype, body = multipart(parts)
    target = "/session/files-test/upload"
    return await client.post(
        target, content=body, headers=admin.headers("POST", target, content_type=ctype)
    )


async def get_json(
    client: httpx.AsyncClient, admin: Signer, target: str, params: dict[str, Any]
) -> httpx.Response:
    headers = admin.headers("GET", target, content_type="application/json")
    return await client.request("GET", target, content=json.dumps(params), headers=headers)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBS + slug
    return body


def mixed_parts(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/mixed response the way a MIME reader would."""
    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + response.content)
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((dict(part.items()), payload))
    return parts


def members(archive: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        found: dict[str, bytes | None] = {}
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            found[member.name] = extracted.read() if extracted else None
        return found


async def test_upload_decodes_nested_paths(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    response = await upload(
        client,
        admin,
        [
            ("up1.txt", b"data1"),
            ("sub%2Fdeeper%2Fup2.txt", b"data2"),
            ("with%20space%2F%C3%A9t%C3%A9.txt", b"data3"),
        ],
    )
    assert response.status_code == 204, response.text
    home = home_of(agent, session)
    assert (home / "up1.txt").read_bytes() == b"data1"
    assert (home / "sub" / "deeper" / "up2.txt").read_bytes() == b"data2"
    assert (home / "with space" / "été.txt").read_bytes() == b"data3"
    assert not (home / "sub%2Fdeeper%2Fup2.txt").exists()
    # Uploading again overwrites.
    assert (await upload(client, admin, [("up1.txt", b"new")])).status_code == 204
    assert (home / "up1.txt").read_bytes() == b"new"


@pytest.mark.parametrize(
    "filename", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fx", "sub%2F..%2F..%2Fx", "%2E%2E", ""]
)
async def test_upload_refuses_escapes_and_writes_nothing(
    client: httpx.AsyncClient,
    admin: Signer,
    agent: DirectoryAgent,
    session: str,
    filename: str,
) -> None:
    response = await upload(client, admin, [("fine.txt", b"ok"), (filename, b"evil")])
    assert_problem(response, 400, "invalid-api-params")
    assert agent.uploads == []
    assert list(home_of(agent, session).iterdir()) == []


async def test_upload_accepts_absolute_paths_inside_home(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    response = await upload(client, admin, [("%2Fhome%2Fwork%2Fa%2Fb.txt", b"x")])
    assert response.status_code == 204
    assert agent.uploads == [[("a/b.txt", b"x")]]


async def test_upload_limits(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    many = [(f"f{i}.txt", b"x") for i in range(MAX_UPLOAD_PARTS + 1)]
    body = assert_problem(await upload(client, admin, many), 400, "invalid-api-params")
    assert body["msg"] == "Too many files"
    big = [("big.bin", b"\0" * (MAX_UPLOAD_FILE_BYTES + 1))]
    body = assert_problem(await upload(client, admin, big), 400, "invalid-api-params")
    assert body["msg"] == "Too large file"
    assert agent.uploads == []
    exact = [(f"f{i}.txt", b"x") for i in range(MAX_UPLOAD_PARTS)]
    assert (await upload(client, admin, exact)).status_code == 204


async def test_upload_needs_multipart_and_a_live_session(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    target = "/session/files-test/upload"
    response = await client.post(
        target, content=b"{}", headers=admin.headers("POST", target, content_type="text/plain")
    )
    assert_problem(response, 400, "invalid-api-params")
    ctype, body = multipart([("a.txt", b"a")])
    target = "/session/no-such-session/upload"
    response = await client.post(
        target, content=body, headers=admin.headers("POST", target, content_type=ctype)
    )
    assert_problem(response, 404, "object-not-found")


async def test_download_file_and_directory(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    home = home_of(agent, session)
    (home / "dl_test.txt").write_bytes(b"hello")
    (home / "sub" / "inner").mkdir(parents=True)
    (home / "sub" / "x.csv").write_bytes(b"a,b\n")
    (home / "sub" / "inner" / "y.txt").write_bytes(b"y")
    response = await get_json(
        client,
        admin,
        "/session/files-test/download",
        {"files": ["dl_test.txt", f"{HOME}/sub"]},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    parts = mixed_parts(response)
    assert len(parts) == 2
    for headers, _ in parts:
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Encoding"] == "identity"
    assert members(parts[0][1]) == {"dl_test.txt": b"hello"}
    assert members(parts[1][1]) == {
        "sub": None,
        "sub/inner": None,
        "sub/inner/y.txt": b"y",
        "sub/x.csv": b"a,b\n",
    }


async def test_download_errors(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    target = "/session/files-test/download"
    missing = await get_json(client, admin, target, {"files": ["nope.txt"]})
    assert_problem(missing, 400, "invalid-api-params")
    escape = await get_json(client, admin, target, {"files": ["../../etc/passwd"]})
    assert_problem(escape, 400, "invalid-api-params")
    too_many = await get_json(client, admin, target, {"files": [f"f{i}" for i in range(6)]})
    assert_problem(too_many, 400, "invalid-api-params")
    none = await get_json(client, admin, target, {})
    assert_problem(none, 400, "invalid-api-params")


async def test_download_single(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    (home_of(agent, session) / "one.txt").write_bytes(b"one")
    target = "/session/files-test/download_single?file=one.txt"
    response = await client.get(target, headers=admin.headers("GET", target))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-tar"
    assert members(response.content) == {"one.txt": b"one"}
    target = "/session/files-test/download_single?file=missing.txt"
    response = await client.get(target, headers=admin.headers("GET", target))
    assert_problem(response, 400, "invalid-api-params")


async def test_list_files(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    home = home_of(agent, session)
    (home / "a.txt").write_bytes(b"12345")
    (home / "sub").mkdir()
    (home / "sub" / "b.txt").write_bytes(b"b")
    target = "/session/files-test/files"
    response = await get_json(client, admin, target, {})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"files", "errors", "abspath"}
    assert body["errors"] == ""
    assert body["abspath"] == HOME
    files = json.loads(body["files"])
    assert [f["filename"] for f in files] == ["a.txt", "sub"]
    first = files[0]
    assert set(first) == {"filename", "size", "mode", "ctime", "mtime", "atime"}
    assert first["size"] == 5
    assert first["mode"].startswith("-rw")
    assert files[1]["mode"].startswith("d")
    assert isinstance(first["mtime"], float)
    nested = (await get_json(client, admin, target, {"path": "sub"})).json()
    assert nested["abspath"] == f"{HOME}/sub"
    assert [f["filename"] for f in json.loads(nested["files"])] == ["b.txt"]


@pytest.mark.parametrize("path", ["missing", "../..", "/etc"])
async def test_list_files_errors_shape(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str, path: str
) -> None:
    response = await get_json(client, admin, "/session/files-test/files", {"path": path})
    assert response.status_code == 200
    assert response.json() == {
        "files": "[]",
        "errors": "No such file or directory.",
        "abspath": path,
    }


async def test_list_files_of_unknown_session_is_404(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    response = await get_json(client, admin, "/session/nope-nope/files", {})
    assert_problem(response, 404, "object-not-found")


@pytest.fixture
async def user(services: Services) -> Signer:
    await services.identity.create_user(email="ada@example.com", password="first-password")
    issued = await services.identity.issue_keypair(email="ada@example.com")
    return Signer(issued.keypair.access_key, issued.secret_key)


async def test_owner_access_key_on_file_transfer(
    client: httpx.AsyncClient, admin: Signer, user: Signer, agent: DirectoryAgent, session: str
) -> None:
    """An admin reaches a user's session with ``owner_access_key`` (query string, as the
    client sends it); a plain user naming someone else's key is refused; nothing changes."""
    body = json.dumps({"name": "adas-files", "image": "python"})
    headers = user.headers("POST", "/session", content_type="application/json")
    created = await client.post("/session", content=body, headers=headers)
    assert created.status_code == 201, created.text
    home = home_of(agent, created.json()["sessionId"])
    as_ada = f"owner_access_key={user.access_key}"

    ctype, form = multipart([("by-admin.txt", b"from the admin")])
    target = f"/session/adas-files/upload?{as_ada}"
    response = await client.post(
        target, content=form, headers=admin.headers("POST", target, content_type=ctype)
    )
    assert response.status_code == 204, response.text
    assert (home / "by-admin.txt").read_bytes() == b"from the admin"

    response = await get_json(
        client, admin, f"/session/adas-files/download?{as_ada}", {"files": ["by-admin.txt"]}
    )
    assert response.status_code == 200, response.text
    [(_, archive)] = mixed_parts(response)
    assert members(archive) == {"by-admin.txt": b"from the admin"}

    target = f"/session/adas-files/download_single?file=by-admin.txt&{as_ada}"
    response = await client.get(target, headers=admin.headers("GET", target))
    assert response.status_code == 200, response.text
    assert members(response.content) == {"by-admin.txt": b"from the admin"}

    response = await get_json(client, admin, f"/session/adas-files/files?{as_ada}", {"path": "."})
    assert response.status_code == 200, response.text
    assert [f["filename"] for f in json.loads(response.json()["files"])] == ["by-admin.txt"]

    # Without the key the admin's own sessions are searched: not found.
    response = await get_json(client, admin, "/session/adas-files/files", {"path": "."})
    assert_problem(response, 404, "object-not-found")

    # A plain user cannot act for the admin's key, on any of the four routes.
    as_admin = f"owner_access_key={admin.access_key}"
    ctype, form = multipart([("by-ada.txt", b"x")])
    target = f"/session/files-test/upload?{as_admin}"
    response = await client.post(
        target, content=form, headers=user.headers("POST", target, content_type=ctype)
    )
    assert_problem(response, 403, "generic-forbidden")
    for path, params in (
        ("download", {"files": ["by-admin.txt"]}),
        ("files", {"path": "."}),
    ):
        response = await get_json(client, user, f"/session/files-test/{path}?{as_admin}", params)
        assert_problem(response, 403, "generic-forbidden")
    target = f"/session/files-test/download_single?file=x&{as_admin}"
    response = await client.get(target, headers=user.headers("GET", target))
    assert_problem(response, 403, "generic-forbidden")
    assert not (home_of(agent, session) / "by-ada.txt").exists()
    response = await get_json(
        client,
        admin,
        "/session/adas-files/files?owner_access_key=AKIANOSUCHKEY0000000",
        {"path": "."},
    )
    problem = assert_problem(response, 400, "invalid-api-params")
    assert problem["msg"] == "Unknown owner access key"


async def test_a_refused_upload_reads_a_small_body_and_keeps_the_connection(
    client: httpx.AsyncClient, admin: Signer, agent: DirectoryAgent, session: str
) -> None:
    """A refusal answered before the body is read: a small body is read and dropped first,
    so that a client still sending it reads the answer (instead of a reset connection); a
    body larger than DRAIN_LIMIT is not waited for and the connection closes."""
    target = "/session/no-such-session/upload"
    for size, closes in ((1000, False), (DRAIN_LIMIT + 1, True)):
        ctype, body = multipart([("a.txt", b"a" * size)])
        headers = admin.headers("POST", target, content_type=ctype)
        response = await client.post(target, content=body, headers=headers)
        assert_problem(response, 404, "object-not-found")
        assert (response.headers.get("connection") == "close") is closes, size
