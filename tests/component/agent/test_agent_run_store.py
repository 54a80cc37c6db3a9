"""A remote agent's copy of a queued task's run directory: what the manager archives
arrives whole (spec private, the rest readable, no local socket), links out of it are
refused, its API socket reaches the manager's address, and it goes with its kernel."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from hangar.agent.rpc.runs import RunRefused, RunStore
from hangar.core.queues.executor import workspace as ws


def run_dir(root: Path) -> ws.RunFiles:
    files = ws.RunFiles(root)
    (files.code / "pkg").mkdir(parents=True)
    (files.code / "pkg" / "job.py").write_text("print('hi')\n")
    (root / "launch.py").write_text("# launcher\n")
    files.spec.write_text('{"secret_key": "s"}')
    (root / "session").write_text(str(uuid.uuid4()))
    ws.listen_unix(files.socket).close()  # the manager's own API socket: not shipped
    return files


async def echo_manager() -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"manager heard " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_shipped_run_arrives_whole_and_its_socket_reaches_the_manager(
    tmp_path: Path,
) -> None:
    archive = ws.archive(run_dir(tmp_path / "manager" / "run1"))
    manager, port = await echo_manager()
    store = RunStore(tmp_path / "agent-runs", f"http://127.0.0.1:{port}",
                     uid=os.getuid(), gid=os.getgid())  # fmt: skip
    kernel = uuid.uuid4()
    root = await store.put("run1", kernel, archive)
    assert (root / "code" / "pkg" / "job.py").read_text() == "print('hi')\n"
    assert not (root / "session").exists()
    assert (root / "spec.json").stat().st_mode & 0o777 == 0o400
    assert (root / "launch.py").stat().st_mode & 0o444 == 0o444
    reader, writer = await asyncio.open_unix_connection(str(root / "api.sock"))
    writer.write(b"GET / HTTP/1.1\n")
    assert await asyncio.wait_for(reader.read(), 5) == b"manager heard GET / HTTP/1.1\n"
    writer.close()
    await store.drop_kernel(uuid.uuid4())  # another kernel's: nothing happens
    assert root.is_dir()
    await store.drop_kernel(kernel)
    assert not root.exists()
    await store.close()
    manager.close()


async def test_a_run_with_a_link_out_of_it_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("code/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    store = RunStore(tmp_path / "agent-runs", "http://127.0.0.1:9", uid=os.getuid(),
                     gid=os.getgid())  # fmt: skip
    with pytest.raises(RunRefused):
        await store.put("bad", uuid.uuid4(), buffer.getvalue())
    assert not (tmp_path / "agent-runs" / "bad").exists()


async def test_a_restarted_store_reopens_the_sockets_of_kept_kernels_and_drops_the_rest(
    tmp_path: Path,
) -> None:
    """An agent restart: the run of a kernel that runs on reaches the manager again through
    the new process's socket, and goes with its kernel; a run whose kernel died goes."""
    manager, port = await echo_manager()
    url, ids = f"http://127.0.0.1:{port}", {"uid": os.getuid(), "gid": os.getgid()}
    first = RunStore(tmp_path / "agent-runs", url, **ids)
    kept, died = uuid.uuid4(), uuid.uuid4()
    root = await first.put("kept", kept, ws.archive(run_dir(tmp_path / "m" / "kept")))
    gone = await first.put("died", died, ws.archive(run_dir(tmp_path / "m" / "died")))
    await first.close()  # the agent process ends; its kernels run on
    with pytest.raises(OSError):  # nobody relays the old socket any more
        await asyncio.open_unix_connection(str(root / "api.sock"))
    second = RunStore(tmp_path / "agent-runs", url, **ids)
    await second.resume([kept])
    assert not gone.exists()
    reader, writer = await asyncio.open_unix_connection(str(root / "api.sock"))
    writer.write(b"again\n")
    assert await asyncio.wait_for(reader.read(), 5) == b"manager heard again\n"
    writer.close()
    await second.drop_kernel(kept)
    assert not (tmp_path / "agent-runs").exists() or not any((tmp_path / "agent-runs").iterdir())
    await second.close()
    manager.close()
