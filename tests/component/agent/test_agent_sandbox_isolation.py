"""Escape attempts against the bubblewrap sandbox: each test tries something a session must
not be able to do (or checks something it must see) from inside a real sandbox."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hangar.agent.runtimes.base import (
    BindMount,
    ExitStatus,
    GpuBinding,
    ImageSpec,
    TerminationReason,
)
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime

PYTHON = "/usr/bin/python3"
Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[Any]]

PTRACE_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
result = libc.ptrace(0, 0, 0, 0)  # PTRACE_TRACEME
print(result, os.strerror(ctypes.get_errno()) if result else "ok")
"""


def host_has(path: str) -> bool:
    """Whether ``path`` exists on the host (outside every sandbox)."""
    return os.path.exists(path)


async def test_runs_as_the_unprivileged_work_user(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    out, _, status = await sh(
        runtime,
        "k1",
        "id -u; id -g; id -un; grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs)' /proc/self/status",
    )
    lines = out.split("\n")
    assert status.exit_code == 0
    assert lines[:3] == ["1000", "1000", "work"]
    assert "CapEff:\t0000000000000000" in lines and "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines


async def test_environment_is_the_documented_one(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANGAR_AGENT_SECRET", "must-not-leak")
    await kernels(runtime, "k1", environ={"SPEC_VAR": "from-spec"})
    out, _, _ = await execute(runtime, "k1", ["/usr/bin/env"], env={"RUN_VAR": "from-run"})
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env.pop("PWD") == "/home/work"  # set by bwrap's --chdir
    assert env == {
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "SHELL": "/bin/bash",
        "USER": "work",
        "HOME": "/home/work",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SPEC_VAR": "from-spec",
        "RUN_VAR": "from-run",
    }


async def test_home_is_the_scratch_dir(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    spec = await kernels(runtime, "k1")
    out, _, status = await sh(runtime, "k1", "pwd; echo hi > note.txt")
    assert (out.strip(), status.exit_code) == ("/home/work", 0)
    note = spec.scratch_dir / "note.txt"
    assert note.read_text() == "hi\n"
    assert (note.stat().st_uid, note.stat().st_gid) == (1000, 1000)


@pytest.mark.parametrize(
    "target",
    ["/etc/hangar-escape", "/usr/hangar-escape", "/var/tmp/hangar-escape", "/hangar-escape"],
)
async def test_cannot_write_outside_home(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, target: str
) -> None:
    await kernels(runtime, "k1")
    _, err, status = await sh(runtime, "k1", f"echo x > {target}")
    assert status.exit_code != 0
    assert "Read-only file system" in err or "Permission denied" in err
    assert not host_has(target)


async def test_cannot_read_another_kernels_scratch(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    secret = (data_dir / "server.key").read_text()
    await kernels(runtime, "k1")
    other = await kernels(runtime, "k2")
    out, _, status = await sh(runtime, "k2", f"echo {secret} > secret.txt; chmod 644 secret.txt")
    assert status.exit_code == 0 and (other.scratch_dir / "secret.txt").exists()
    # Same uid, world-readable file: only the mount masking stands in the way.
    script = f"cat {other.scratch_dir}/secret.txt; ls -A {data_dir}/scratch; ls -A /home"
    out, err, _ = await sh(runtime, "k1", script)
    assert secret not in out
    assert "No such file or directory" in err
    assert out.split() == ["work"]


async def test_cannot_read_the_server_database_or_key(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    secret = (data_dir / "server.key").read_text()
    await kernels(runtime, "k1")
    script = f"cat {data_dir}/hangar.db {data_dir}/server.key; ls -A {data_dir}"
    out, err, status = await sh(runtime, "k1", script)
    assert secret not in out and out.strip() == ""
    assert err.count("No such file or directory") == 2
    assert status.exit_code == 0  # ls of the (empty) masked data dir succeeded


async def test_other_kernels_processes_are_invisible(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    await kernels(runtime, "k2")
    marker = f"marker-{uuid.uuid4().hex}"
    sleeper = await runtime.run("k2", ["/bin/sh", "-c", "/bin/sleep 600; :", marker])
    try:
        out, _, _ = await sh(
            runtime, "k1", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]*"
        )
        assert marker not in out
        pids = [line for line in out.splitlines() if line.startswith("/proc/")]
        assert len(pids) <= 4  # bwrap's init, sh, and the short-lived tools
    finally:
        sleeper.kill()
        assert (await sleeper.wait()).reason is TerminationReason.KILLED


async def test_tmp_and_shm_are_private(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    await kernels(runtime, "k2")
    name = f"hangar-private-{uuid.uuid4().hex}"
    _, err, status = await sh(
        runtime, "k1", f"echo x > /tmp/{name} && echo x > /dev/shm/{name} && ls /tmp"
    )
    assert status.exit_code == 0, err
    out, _, _ = await sh(runtime, "k2", "ls -A /tmp /dev/shm")
    assert name not in out
    assert not host_has(f"/tmp/{name}") and not host_has(f"/dev/shm/{name}")


async def test_host_homes_and_cgroup_tree_are_hidden(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    await kernels(runtime, "k2")
    script = (
        "ls -A /root; echo --; ls -A /home; echo --; ls -A /sys/fs/cgroup; cat /proc/self/cgroup"
    )
    out, _, _ = await sh(runtime, "k1", script)
    listing, cgroups = out.split("--")[:2], out.split("--")[2]
    assert [part.split() for part in listing] == [[], ["work"]]
    assert "k2" not in cgroups and "k1" not in cgroups  # neither others' nor its own path


@pytest.mark.usefixtures("needs_python")
async def test_ptrace_is_denied_by_the_seccomp_filter(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1")
    out, _, _ = await execute(runtime, "k1", [PYTHON, "-c", PTRACE_PROBE])
    assert out.strip() == "-1 Operation not permitted"
    vm_read = (
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
        "print(libc.process_vm_readv(os.getpid(), 0, 0, 0, 0, 0), ctypes.get_errno())"
    )
    out, _, _ = await execute(runtime, "k1", [PYTHON, "-c", vm_read])
    assert out.split() == ["-1", "1"]  # EPERM


@pytest.mark.skipif(not os.access("/usr/bin/strace", os.X_OK), reason="strace is not installed")
async def test_strace_cannot_trace(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1")
    _, err, status = await execute(runtime, "k1", ["/usr/bin/strace", "/bin/true"])
    assert status.exit_code != 0
    assert "Operation not permitted" in err


@pytest.mark.usefixtures("needs_python")
async def test_ptrace_works_without_the_filter(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels, execute: Shell
) -> None:
    """Control: the EPERM above comes from the filter, not from something else."""
    unfiltered = make_runtime(seccomp=False)
    await kernels(unfiltered, "k1")
    out, _, _ = await execute(unfiltered, "k1", [PYTHON, "-c", PTRACE_PROBE])
    assert out.strip() == "0 ok"


@pytest.mark.usefixtures("needs_python")
async def test_no_kernel_reaches_the_host_loopback(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the host\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = (
        "import socket\n"
        "try:\n"
        f"    print(socket.create_connection(('127.0.0.1', {port}), 5).recv(100).decode())\n"
        "except OSError as e:\n"
        "    print('refused', e.errno)\n"
    )
    async with server:
        await kernels(runtime, "shared")
        await kernels(runtime, "private", unshare_net=True)
        shared, _, _ = await execute(runtime, "shared", [PYTHON, "-c", client])
        private, _, _ = await execute(runtime, "private", [PYTHON, "-c", client])
    expected = "hello from the host" if runtime.networks is None else "refused"
    assert shared.startswith(expected)  # its own network (as root), or the host's
    assert private.startswith("refused")


async def test_gpus_are_passed_by_environment_and_nothing_else_is_visible(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1", gpus=(GpuBinding(1, "FAKE-GPU-1"),))
    out, _, _ = await sh(runtime, "k1", "echo $CUDA_VISIBLE_DEVICES; ls /dev")
    lines = out.split()
    assert lines[0] == "FAKE-GPU-1"
    assert not [name for name in lines if name.startswith("nvidia")]


async def test_vfolder_mounts_keep_their_permission(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    shared, private = data_dir / "vfolders" / "shared", data_dir / "vfolders" / "mine"
    for folder in (shared, private):
        folder.mkdir(parents=True)
        os.chown(folder, 1000, 1000)
    (shared / "readme.txt").write_text("read me\n")
    mounts = (BindMount(shared, "shared"), BindMount(private, "/home/work/mine", read_only=False))
    await kernels(runtime, "k1", mounts=mounts)
    out, err, _ = await sh(
        runtime, "k1", "cat shared/readme.txt; echo new > mine/out.txt; echo x > shared/no.txt"
    )
    assert out == "read me\n" and "Read-only file system" in err
    assert (private / "out.txt").read_text() == "new\n"
    assert not (shared / "no.txt").exists()


async def test_image_prefix_under_a_hidden_dir_is_bound_back(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell, data_dir: Path
) -> None:
    prefix = data_dir / "images" / "tools"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "hello").write_text("#!/bin/sh\necho hello from the image\n")
    for path in (data_dir / "images", prefix, prefix / "bin", prefix / "bin" / "hello"):
        path.chmod(0o755)
    await kernels(runtime, "k1", image=ImageSpec(interpreter_prefix=prefix))
    out, err, status = await sh(runtime, "k1", f"hello; ls -A {data_dir}; touch {prefix}/x")
    assert out.splitlines() == ["hello from the image", "images"], err
    assert "Read-only file system" in err and status.exit_code != 0
