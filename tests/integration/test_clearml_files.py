"""The file server under /files, driven by the official clearml SDK and by raw HTTP: artifacts
of several kinds and debug images go up and come back, two users neither read nor delete
each other's files, escapes are refused, a task's files go with it, and a large upload
streams through without growing the server."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.support.clearml import ClearmlApi, ClearmlUser, admin_of, new_user, sdk
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def alice(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "alice@files.test")


@pytest.fixture(scope="module")
def bob(clearml_live: LiveServer) -> ClearmlUser:
    return new_user(clearml_live, "bob@files.test")


@pytest.fixture(scope="module")
def alice_api(clearml_live: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, alice)
    yield api
    api.close()


@pytest.fixture(scope="module")
def bob_api(clearml_live: LiveServer, bob: ClearmlUser) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(clearml_live, bob)
    yield api
    api.close()


def files_url(server: LiveServer, key: str = "") -> str:
    return f"{server.endpoint}/files/{quote(key)}"


def bearer(api: ClearmlApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}"}


def upload(api: ClearmlApi, files: dict[str, bytes]) -> httpx.Response:
    """A POST as the SDK sends it: one part per file, named by its key with a leading '/'."""
    parts = [(f"/{key}", (f"/{key}", data)) for key, data in files.items()]
    server = api.endpoint
    return api.http.post(f"{server}/files/", files=parts, headers=bearer(api))


ARTIFACTS = """
import json
import numpy as np
import pandas as pd
from clearml import Task
task = Task.init(project_name="files/artifacts", task_name="kinds")
with open("notes.txt", "w") as f:
    f.write("line one\\nline two\\n")
task.upload_artifact("notes", artifact_object="notes.txt")
task.upload_artifact("config", artifact_object={"lr": 0.1, "layers": [1, 2, 3]})
task.upload_artifact("frame", artifact_object=pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
task.upload_artifact("matrix", artifact_object=np.arange(12, dtype=np.float32).reshape(3, 4))
task.upload_artifact("thing", artifact_object={"a set": {1, 2}})  # not JSON: pickled
task.upload_artifact("text", artifact_object="just a string")
import os
os.makedirs("folder/inner", exist_ok=True)
with open("folder/inner/x.txt", "w") as f:
    f.write("in a folder")
task.upload_artifact("folder", artifact_object="folder")
task.flush(wait_for_uploads=True)
print(json.dumps({"task": task.id}))
task.close()
"""

READ_BACK = """
import json, os
import numpy as np
import pandas as pd
from clearml import Task
task = Task.get_task(task_id="{task}")
arts = task.artifacts
with open(arts["notes"].get_local_copy()) as f:
    notes = f.read()
frame = arts["frame"].get()
matrix = arts["matrix"].get()
print(json.dumps({{
    "names": sorted(arts),
    "notes": notes,
    "config": arts["config"].get(),
    "frame": frame.to_dict(orient="list"),
    "matrix": matrix.tolist(), "dtype": str(matrix.dtype),
    "thing": sorted(arts["thing"].get()["a set"]),
    "text": arts["text"].get(),
    "folder": open(os.path.join(arts["folder"].get_local_copy(), "inner", "x.txt")).read(),
    "urls": {{name: a.url for name, a in arts.items()}},
}}))
"""


@pytest.fixture(scope="module")
def artifacts(clearml_live: LiveServer, alice: ClearmlUser) -> dict[str, Any]:
    task = sdk(clearml_live, alice, ARTIFACTS)["task"]
    return {"task": task, **sdk(clearml_live, alice, READ_BACK.format(task=task))}


def test_artifacts_of_several_kinds_come_back_equal(artifacts: dict[str, Any]) -> None:
    assert artifacts["names"] == ["config", "folder", "frame", "matrix", "notes", "text", "thing"]
    assert artifacts["notes"] == "line one\nline two\n"
    assert artifacts["config"] == {"lr": 0.1, "layers": [1, 2, 3]}
    assert artifacts["frame"] == {"a": [1, 2, 3], "b": ["x", "y", "z"]}
    assert artifacts["matrix"] == [[float(4 * r + c) for c in range(4)] for r in range(3)]
    assert artifacts["dtype"] == "float32"
    assert artifacts["thing"] == [1, 2]
    assert artifacts["text"] == "just a string"
    assert artifacts["folder"] == "in a folder"
    for url in artifacts["urls"].values():
        assert f"/files/files/artifacts/kinds.{artifacts['task']}/artifacts/" in url


def test_gz_files_go_out_as_bytes_and_download_asks_for_attachment(
    clearml_live: LiveServer, alice_api: ClearmlApi, artifacts: dict[str, Any]
) -> None:
    url = artifacts["urls"]["frame"]
    assert url.endswith(".csv.gz")
    response = alice_api.http.get(url + "?download", headers=bearer(alice_api))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "content-encoding" not in response.headers
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content[:2] == b"\x1f\x8b"  # still gzip: nobody unpacked it
    head = alice_api.http.head(artifacts["urls"]["config"], headers=bearer(alice_api))
    assert head.status_code == 200 and head.headers["content-type"] == "application/json"
    assert int(head.headers["content-length"]) > 10


IMAGES = """
import json
import numpy as np
from PIL import Image
from clearml import Task
task = Task.init(project_name="files/images", task_name="debug images")
Image.new("RGB", (16, 8), (255, 0, 0)).save("red.png")
logger = task.get_logger()
logger.report_image("samples", "from file", iteration=1, local_path="red.png")
array = np.zeros((10, 20, 3), dtype=np.uint8)
array[:, :, 1] = 255
logger.report_image("samples", "from array", iteration=1, image=array)
task.flush(wait_for_uploads=True)
print(json.dumps({"task": task.id}))
task.close()
"""


def test_debug_images_from_a_file_and_an_array_are_on_the_file_server(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi, tmp_path: Path
) -> None:
    task = sdk(clearml_live, alice, IMAGES)["task"]
    events = alice_api.call(
        "events.get_task_events", task=task, event_type="training_debug_image"
    )["events"]  # fmt: skip
    urls = {e["variant"]: e["url"] for e in events}
    assert set(urls) == {"from file", "from array"}
    shown = sdk(
        clearml_live, alice,
        f"""
        import json
        from PIL import Image
        from clearml import StorageManager
        urls = {json.dumps(urls)}
        out = {{}}
        for variant, url in urls.items():
            image = Image.open(StorageManager.get_local_copy(url)).convert("RGB")
            out[variant] = [image.size, image.getpixel((0, 0))]
        print(json.dumps(out))
        """,
    )  # fmt: skip
    assert shown["from file"] == [[16, 8], [255, 0, 0]]
    size, pixel = shown["from array"]
    assert size == [20, 10] and pixel[1] > 240 and pixel[0] < 15
    for url in urls.values():
        assert f"/files/files/images/debug%20images.{task}/metrics/samples/" in url


def test_two_users_neither_read_nor_delete_each_others_files(
    alice_api: ClearmlApi, bob_api: ClearmlApi, artifacts: dict[str, Any]
) -> None:
    url = artifacts["urls"]["config"]
    theirs = alice_api.http.get(url, headers=bearer(alice_api)).content
    for method in ("GET", "HEAD", "DELETE"):
        refused = bob_api.http.request(method, url, headers=bearer(bob_api))
        assert refused.status_code == 404, (method, refused.text)
    key = urlsplit(url).path.removeprefix("/files/")
    many = bob_api.http.post(
        f"{bob_api.endpoint}/files/delete_many",
        json={"files": [key.replace("%20", " ")]},
        headers=bearer(bob_api),
    )
    assert many.status_code == 200 and many.json()["deleted"] == {}
    # Bob writing to Alice's task path lands in his own space, not over her file.
    assert upload(bob_api, {key.replace("%20", " "): b"bob was here"}).status_code == 200
    assert alice_api.http.get(url, headers=bearer(alice_api)).content == theirs
    assert bob_api.http.get(url, headers=bearer(bob_api)).content == b"bob was here"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["meta"]["result_code"] == 401


def raw_request(server: LiveServer, method: str, path: str, token: str) -> tuple[int, bytes]:
    """A request whose path goes out exactly as written (no dot-segment clean-up)."""
    address = urlsplit(server.endpoint)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_escapes_are_refused_in_uploads_and_reads(
    clearml_live: LiveServer, alice_api: ClearmlApi, artifacts: dict[str, Any]
) -> None:
    task = artifacts["task"]
    for key in (
        f"files/artifacts/kinds.{task}/../../../../escaped.txt",
        "../escaped.txt",
        "/etc/escaped.txt",
        f"p/x.{task}/a/..%2f..%2fescaped.txt".replace("%2f", "/"),
    ):
        response = upload(alice_api, {key: b"x"})
        assert response.status_code == 400, (key, response.text)
        assert response.json()["meta"]["result_code"] == 400
    data_dir = clearml_live.data_dir
    assert not list(data_dir.rglob("escaped.txt"))
    token = alice_api.token
    for path in (
        "/files/../../etc/passwd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/a/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/files//etc/passwd",
        f"/files/files/artifacts/kinds.{task}/..%2F..%2F..%2Fetc/passwd",
    ):
        status, body = raw_request(clearml_live, "GET", path, token)
        assert status in (400, 404), (path, status, body[:200])
        assert b"root:" not in body
        assert json.loads(body)["meta"]["result_code"] == status


def test_ping_head_delete_and_delete_many(clearml_live: LiveServer, alice_api: ClearmlApi) -> None:
    assert httpx.get(files_url(clearml_live)).text == "OK"
    keys = {"scratch/a.txt": b"a", "scratch/b c.txt": b"b", "scratch/d.bin": b"d"}
    stored = upload(alice_api, keys)
    assert stored.status_code == 200 and sorted(stored.json()) == sorted(keys)
    head = alice_api.http.head(
        files_url(clearml_live, "scratch/b c.txt"), headers=bearer(alice_api)
    )
    assert head.status_code == 200 and head.headers["content-length"] == "1"
    gone = alice_api.http.delete(
        files_url(clearml_live, "scratch/a.txt"), headers=bearer(alice_api)
    )
    assert gone.status_code == 200
    missing = alice_api.http.head(
        files_url(clearml_live, "scratch/a.txt"), headers=bearer(alice_api)
    )
    assert missing.status_code == 404
    many = alice_api.http.post(
        files_url(clearml_live, "delete_many"),
        json={"files": ["scratch/b c.txt", "scratch/nope.txt"]},
        headers=bearer(alice_api),
    )
    assert many.status_code == 200
    assert many.json()["deleted"] == {"scratch/b c.txt": "scratch/b c.txt"}
    assert [k for keys in many.json()["errors"].values() for k in keys] == ["scratch/nope.txt"]
    cookie = httpx.get(
        files_url(clearml_live, "scratch/d.bin"), cookies={"clearml_token_basic": alice_api.token}
    )
    assert cookie.status_code == 200 and cookie.content == b"d"
    for body, headers in ((b"not multipart", {"Content-Type": "text/plain"}), (b"", {})):
        bad = alice_api.http.post(
            files_url(clearml_live), content=body, headers={**bearer(alice_api), **headers}
        )
        assert bad.status_code == 400 and bad.json()["meta"]["result_code"] == 400


def test_deleting_a_task_removes_its_files(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    task = sdk(clearml_live, alice, ARTIFACTS.replace('"kinds"', '"short lived"'))["task"]
    urls = [
        a["uri"] for a in alice_api.call("tasks.get_by_id", task=task)["task"]["execution"][
            "artifacts"]
    ]  # fmt: skip
    assert len(urls) == 7
    assert all(alice_api.http.get(u, headers=bearer(alice_api)).status_code == 200 for u in urls)
    alice_api.call("tasks.delete", task=task, force=True)
    assert all(alice_api.http.get(u, headers=bearer(alice_api)).status_code == 404 for u in urls)
    assert not list(clearml_live.data_dir.rglob(f"*{task}*"))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The highest RSS of a process while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_large_upload_and_download_stream_without_growing_the_server(
    clearml_live: LiveServer, alice_api: ClearmlApi, tmp_path: Path
) -> None:
    size = 200 << 20
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert clearml_live.proc is not None
    pid = clearml_live.proc.pid
    alice_api.http.get(files_url(clearml_live))  # warm the connection
    before = rss_bytes(pid)
    began = time.monotonic()
    with PeakRss(pid) as upload_peak, source.open("rb") as f:
        stored = alice_api.http.post(
            files_url(clearml_live), files=[("/big/weights.bin", ("/big/weights.bin", f))],
            headers=bearer(alice_api), timeout=300,
        )  # fmt: skip
    assert stored.status_code == 200, stored.text
    up = time.monotonic() - began
    began = time.monotonic()
    got = hashlib.sha256()
    with (
        PeakRss(pid) as download_peak,
        alice_api.http.stream(
            "GET",
            files_url(clearml_live, "big/weights.bin"),
            headers=bearer(alice_api),
            timeout=300,
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-length"] == str(size)
        for chunk in response.iter_bytes(1 << 20):
            got.update(chunk)
    assert got.hexdigest() == digest
    grown = max(upload_peak.peak, download_peak.peak) - before
    down = time.monotonic() - began
    print(f"RSS {before >> 20} MiB, peaks {upload_peak.peak >> 20}/{download_peak.peak >> 20}"
          f" MiB; up {up:.2f}s down {down:.2f}s")  # fmt: skip
    assert grown < 40 << 20, f"the server grew by {grown >> 20} MiB"


DATASET = """
import json, os
from clearml import Dataset
os.makedirs("data/sub", exist_ok=True)
with open("data/a.txt", "w") as f:
    f.write("alpha")
with open("data/sub/b.txt", "w") as f:
    f.write("beta")
ds = Dataset.create(dataset_name="tiny", dataset_project="files/datasets")
ds.add_files("data")
ds.upload()
ds.finalize()
got = Dataset.get(dataset_id=ds.id).get_local_copy()
out = {}
for root, _, names in os.walk(got):
    for name in names:
        path = os.path.join(root, name)
        with open(path) as f:
            out[os.path.relpath(path, got)] = f.read()
print(json.dumps({"id": ds.id, "files": out}))
"""


def test_a_dataset_goes_up_and_comes_back(
    clearml_live: LiveServer, alice: ClearmlUser, alice_api: ClearmlApi
) -> None:
    made = sdk(clearml_live, alice, DATASET)
    assert made["files"] == {"a.txt": "alpha", "sub/b.txt": "beta"}
    artifacts = alice_api.call("tasks.get_by_id", task=made["id"])["task"]["execution"][
        "artifacts"
    ]  # fmt: skip
    uris = [a["uri"] for a in artifacts if a.get("uri")]
    assert uris and all(f"/.datasets/tiny/tiny.{made['id']}/artifacts/" in u for u in uris)


def test_a_domain_past_its_quota_gets_a_507_with_the_figures(tmp_path: Path) -> None:
    server = LiveServer(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                        extra_env={"HANGAR_TRACKING_FILES_QUOTA_BYTES": "3000"})  # fmt: skip
    server.start()
    try:
        api = ClearmlApi.of(server)
        auth = {"Authorization": f"Bearer {api.token}"}

        def put(key: str, size: int) -> httpx.Response:
            files = [(f"/{key}", (f"/{key}", b"x" * size))]
            return api.http.post(f"{server.endpoint}/files/", files=files, headers=auth)

        assert put("q/first.bin", 2000).status_code == 200
        refused = put("q/second.bin", 2000)
        meta = refused.json()["meta"]
        assert refused.status_code == 507 and meta["result_code"] == 507
        assert "3000 bytes" in meta["result_msg"] and "2000 are in use" in meta["result_msg"]
        assert (
            api.http.get(f"{server.endpoint}/files/q/second.bin", headers=auth).status_code == 404
        )
        assert (
            api.http.delete(f"{server.endpoint}/files/q/first.bin", headers=auth).status_code == 200
        )
        assert put("q/second.bin", 2000).status_code == 200
        api.close()
    finally:
        server.stop()


def test_a_user_past_their_quota_gets_a_507_and_others_are_not_held(tmp_path: Path) -> None:
    """The per-user quota counts the files of the tasks a user owns, whoever uploaded them,
    and their own keys."""
    server = LiveServer(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                        extra_env={"HANGAR_TRACKING_FILES_USER_QUOTA_BYTES": "3000"})  # fmt: skip
    server.start()
    apis = [ClearmlApi.of(server, new_user(server, f"{n}@quota.test")) for n in ("carol", "dave")]
    apis.append(ClearmlApi.of(server, admin_of(server)))
    try:
        carol, dave, admin = apis

        def put(api: ClearmlApi, key: str, size: int) -> httpx.Response:
            files = [(f"/{key}", (f"/{key}", b"x" * size))]
            return api.http.post(f"{server.endpoint}/files/", files=files, headers=bearer(api))

        task = carol.call("tasks.create", name="heavy", type="training")["id"]
        assert put(carol, f"p/heavy.{task}/artifacts/a/a.bin", 2000).status_code == 200
        refused = put(carol, "own/extra.bin", 1500)
        meta = refused.json()["meta"]
        assert refused.status_code == 507 and meta["result_code"] == 507
        assert "3000 bytes per user" in meta["result_msg"] and "take 2000" in meta["result_msg"]
        assert put(dave, "own/big.bin", 2500).status_code == 200  # dave's own share
        assert put(carol, "own/small.bin", 600).status_code == 200  # the request's size counts
        assert put(carol, "own/one-more.bin", 500).status_code == 507
        carol.call("tasks.delete", task=task)  # its files go, and free carol's share
        assert put(carol, "own/extra.bin", 1500).status_code == 200
        shared = carol.call("tasks.create", name="shared", type="training")["id"]
        key = f"p/shared.{shared}/artifacts/a/by-admin.bin"
        assert put(admin, key, 500).status_code == 200  # carol's task: carol's share
        assert put(carol, "own/late.bin", 300).status_code == 507  # 600 + 1500 + 500 + 300
        over = put(admin, f"p/shared.{shared}/artifacts/a/more.bin", 600).json()["meta"]
        assert "the task owner's take 2600" in over["result_msg"]
        assert put(admin, "own/admins.bin", 2500).status_code == 200  # admin's share is free
        mine = put(dave, f"p/shared.{shared}/artifacts/a/dave.bin", 600)  # dave's own key
        assert mine.status_code == 507 and "yours take 2500" in mine.json()["meta"]["result_msg"]
        got = carol.http.get(f"{server.endpoint}/files/{key}", headers=bearer(carol))
        assert got.content == b"x" * 500
        hidden = dave.http.get(f"{server.endpoint}/files/{key}", headers=bearer(dave))
        assert hidden.status_code == 404
    finally:
        for api in apis:
            api.close()
        server.stop()


def test_purging_a_user_removes_their_files_and_leaves_others(clearml_live: LiveServer) -> None:
    dora, erin = (new_user(clearml_live, f"{n}@purge.test") for n in ("dora", "erin"))
    admin = ClearmlApi.of(clearml_live, admin_of(clearml_live))
    urls: dict[str, list[str]] = {}
    for user in (dora, erin):
        api = ClearmlApi.of(clearml_live, user)
        task = api.call("tasks.create", name="purged", type="training")["id"]
        keys = [f"purge/run.{task}/artifacts/a/{user.email}.bin", f"own/{user.email}.txt"]
        assert upload(api, {k: user.email.encode() for k in keys}).status_code == 200
        urls[user.email] = [files_url(clearml_live, k) for k in keys]
        api.close()
    task_url = urls[dora.email][0]
    assert admin.http.get(task_url, headers=bearer(admin)).content == dora.email.encode()
    done = clearml_live.official("admin", "user", "purge", dora.email, input="y\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert admin.http.get(task_url, headers=bearer(admin)).status_code == 404
    assert not list(clearml_live.data_dir.rglob(f"{dora.email}*"))  # task's and own files
    assert len(list(clearml_live.data_dir.rglob(f"{erin.email}*"))) == 2
    erin_api = ClearmlApi.of(clearml_live, erin)
    for url in urls[erin.email]:
        assert erin_api.http.get(url, headers=bearer(erin_api)).content == erin.email.encode()
    erin_api.close()
    admin.close()
