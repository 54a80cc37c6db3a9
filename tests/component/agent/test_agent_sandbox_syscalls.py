"""The seccomp filter in a real sandbox: user namespaces, mounts and the other kernel surface
Docker keeps from containers fail with EPERM; threads, fork, subprocess, git and ssh work."""

from __future__ import annotations

import json
import platform
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hangar.agent.runtimes.base import ExitStatus
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime

PYTHON = "/usr/bin/python3"
Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]
Kernels = Callable[..., Awaitable[Any]]

# Raw calls by number (x86_64), each reporting errno; 0 would mean the call got through.
SYSCALL_PROBE = """
import ctypes, json, os, platform
assert platform.machine() == "x86_64"
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(nr, *args):
    ctypes.set_errno(0)
    result = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if result == -1 else 0
print(json.dumps({
    "unshare(NEWUSER)": errno_of(272, 0x10000000),
    "unshare(NEWNS)": errno_of(272, 0x00020000),
    "unshare(NEWNET)": errno_of(272, 0x40000000),
    "clone(NEWUSER|SIGCHLD)": errno_of(56, 0x10000000 | 17, 0, 0, 0, 0),
    "clone3": errno_of(435, 0, 0),
    "setns": errno_of(308, 0, 0),
    "mount": errno_of(165, 0, 0, 0, 0, 0),
    "umount2": errno_of(166, 0, 0),
    "io_uring_setup": errno_of(425, 1, 0),
    "bpf": errno_of(321, 0, 0, 0),
    "keyctl": errno_of(250, 0, 0),
    "add_key": errno_of(248, 0, 0, 0, 0, 0),
    "perf_event_open": errno_of(298, 0, 0, -1, -1, 0),
    "userfaultfd": errno_of(323, 0),
    "open_by_handle_at": errno_of(304, 0, 0, 0),
    "fsopen": errno_of(430, 0, 0),
}))
"""

STILL_WORKS = """
import os, subprocess, threading
seen = []
thread = threading.Thread(target=seen.append, args=("thread",))
thread.start(); thread.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
seen.append(f"fork {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}")
seen.append(subprocess.run(["echo", "subprocess"], capture_output=True, text=True).stdout.strip())
print(" | ".join(seen))
"""


@pytest.fixture
def x86_64() -> None:
    if platform.machine() != "x86_64":
        pytest.skip("the probe calls syscalls by their x86_64 numbers")


async def test_unshare_cannot_make_a_user_namespace(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    out, err, status = await sh(runtime, "k1", "unshare -Ur id -u")
    assert status.exit_code != 0 and out == ""
    assert "Operation not permitted" in err
    _, err, status = await sh(runtime, "k1", "unshare -Urm mount -t tmpfs none /home/work")
    assert status.exit_code != 0 and "Operation not permitted" in err
    _, err, status = await sh(runtime, "k1", "mount -t tmpfs none /home/work")
    assert status.exit_code != 0


@pytest.mark.usefixtures("needs_python", "x86_64")
async def test_denied_calls_fail_with_eperm_and_clone3_with_enosys(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    await kernels(runtime, "k1")
    out, err, status = await execute(runtime, "k1", [PYTHON, "-c", SYSCALL_PROBE])
    assert status.exit_code == 0, err
    errnos = json.loads(out)
    assert errnos.pop("clone3") == 38  # ENOSYS: glibc falls back to clone
    assert errnos == dict.fromkeys(errnos, 1)  # EPERM, the process lives on


@pytest.mark.usefixtures("needs_python")
async def test_threads_fork_subprocess_git_and_ssh_still_work(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    out, err, status = await execute(runtime, "k1", [PYTHON, "-c", STILL_WORKS])
    assert status.exit_code == 0, err
    assert out.strip() == "thread | fork 7 | subprocess"
    script = (
        "git init -q repo && cd repo && echo hi > f && git add f && "
        "git -c user.name=w -c user.email=w@x commit -qm first && git log --format=%s; "
        "ssh -V 2>&1 | cut -c1-7"
    )
    out, err, status = await sh(runtime, "k1", script)
    assert status.exit_code == 0, err
    assert out.split() == ["first", "OpenSSH"]


async def test_user_namespaces_work_without_the_filter(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels, sh: Shell
) -> None:
    """Control: the refusal above is the filter's, not something else's."""
    unfiltered = make_runtime(seccomp=False)
    await kernels(unfiltered, "k1")
    out, err, status = await sh(unfiltered, "k1", "unshare -Ur id -u")
    if status.exit_code != 0:
        pytest.skip(f"this host refuses user namespaces anyway: {err.strip()}")
    assert out.strip() == "0"
