"""Fixtures for the local runtime's tests: a fake data dir outside the default masks, a real
bubblewrap runtime (skipped where bwrap is missing), and a kernel factory that cleans up.

The data dir lives under /var/tmp, which sandboxes otherwise see read-only: only the
runtime's ``hidden_paths`` masking keeps them out, and its files are world-readable on
purpose so that file permissions cannot be what protects them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq.asyncio

from hangar.agent.errors import SandboxUnavailable
from hangar.agent.kernels import connect
from hangar.agent.runtimes.base import ExitStatus, KernelRuntime, KernelSpec
from hangar.agent.runtimes.bubblewrap import BubblewrapConfig, BubblewrapRuntime
from hangar.agent.runtimes.scratch import remove_tree

PYTHON = "/usr/bin/python3"  # a host interpreter the work user may execute
SECRET = "hangar-db-secret-8d1f"
# Kernel cgroups are named by kernel id ("k1", ...) under this parent, host-wide: one parent
# per test process, so that parallel workers (and other checkouts' runs) never share a cgroup.
CGROUP_PARENT = f"hangar-test-{os.getpid()}"
DATA_DIRS: list[Path] = []  # every data dir this test process made


def _kill_leftovers() -> None:
    """Kill what this process's tests left running: processes in its cgroups (kernels a
    test kept or crashed before destroying) and those naming one of its data dirs (network
    holders, pasta, supervisors), so that a long run does not pile them up."""
    pids: set[int] = set()
    for procs in Path("/sys/fs/cgroup/pids", CGROUP_PARENT).glob("**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(line) for line in procs.read_text().split())
    needles = [str(root).encode() for root in DATA_DIRS]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and needles:
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if any(needle in cmdline for needle in needles):
                    pids.add(int(proc.name))
    pids.discard(os.getpid())
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session", autouse=True)
def _sweep_leftovers() -> Iterator[None]:
    yield
    _kill_leftovers()


@pytest.fixture(autouse=True)
def _kernel_contexts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Destroy at the end of each test the ZeroMQ contexts of Jupyter kernels it left open.

    A context the garbage collector finds later, in one cycle with its sockets, destroys no
    socket (their weak references are gone) and then waits in zmq_ctx_term for them forever:
    a whole test process (an xdist worker) hangs in the middle of some later test.
    """
    made: list[zmq.asyncio.Context] = []
    started = connect._started_context

    def recorded() -> zmq.asyncio.Context:
        context = started()
        made.append(context)
        return context

    monkeypatch.setattr(connect, "_started_context", recorded)
    yield
    for context in made:
        if not context.closed:
            context.destroy(linger=0)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fake Hangar data dir: database, server key, scratch root, agent state."""
    root = Path(tempfile.mkdtemp(prefix="hangar-agent-test-", dir="/var/tmp"))
    DATA_DIRS.append(root)
    root.chmod(0o755)
    (root / "hangar.db").write_text(f"SQLite format 3\0{SECRET}")
    (root / "server.key").write_text(SECRET)
    for name in ("hangar.db", "server.key"):
        (root / name).chmod(0o644)
    (root / "scratch").mkdir(mode=0o755)
    (root / "scratch").chmod(0o755)
    yield root
    remove_tree(root)


def start_runtime(data_dir: Path, **overrides: Any) -> BubblewrapRuntime:
    """Start a bubblewrap runtime hiding ``data_dir``; skip the test where it cannot work."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    config = BubblewrapConfig(
        state_dir=data_dir / "agent",
        hidden_paths=(data_dir,),
        cgroup_parent=CGROUP_PARENT,
        **overrides,
    )
    try:
        return BubblewrapRuntime.start(config)
    except SandboxUnavailable as exc:
        pytest.skip(f"bubblewrap cannot start here: {exc}")


@pytest.fixture
def make_runtime(data_dir: Path) -> Iterator[Callable[..., BubblewrapRuntime]]:
    """``make_runtime(**config_overrides)`` starts a runtime on the data dir; the (empty)
    cgroup parents it made are removed afterwards."""
    started: list[BubblewrapRuntime] = []

    def make(**overrides: Any) -> BubblewrapRuntime:
        started.append(start_runtime(data_dir, **overrides))
        return started[-1]

    yield make
    for runtime in started:
        for parent in set(runtime.cgroups.parents.values()) if runtime.cgroups else ():
            with contextlib.suppress(OSError):  # busy: another test process uses it
                parent.rmdir()


@pytest.fixture
def runtime(make_runtime: Callable[..., BubblewrapRuntime]) -> BubblewrapRuntime:
    return make_runtime()


@pytest.fixture
def needs_python() -> None:
    if not os.access(PYTHON, os.X_OK):
        pytest.skip(f"{PYTHON} is needed inside the sandbox")


@pytest.fixture
def needs_cgroups(runtime: BubblewrapRuntime) -> None:
    if runtime.cgroups is None:
        pytest.skip(f"cgroups are not writable here: {runtime.notes}")


@pytest.fixture
async def kernels(data_dir: Path) -> AsyncIterator[Callable[..., Awaitable[KernelSpec]]]:
    """``await kernels(runtime, "k1", **spec_fields)`` creates a kernel; all are destroyed
    (scratch removed) at teardown."""
    made: list[tuple[KernelRuntime, str]] = []

    async def make(runtime: KernelRuntime, kernel_id: str, **fields: Any) -> KernelSpec:
        fields.setdefault("scratch_dir", data_dir / "scratch" / kernel_id)
        spec = KernelSpec(kernel_id, **fields)
        await runtime.create(spec)
        made.append((runtime, kernel_id))
        return spec

    yield make
    for runtime, kernel_id in made:
        await runtime.destroy(kernel_id, remove_scratch=True)


Shell = Callable[..., Awaitable[tuple[str, str, ExitStatus]]]


async def run_to_end(
    runtime: KernelRuntime, kernel_id: str, argv: list[str], **kwargs: Any
) -> tuple[str, str, ExitStatus]:
    handle = await runtime.run(kernel_id, argv, **kwargs)
    out, err, status = await handle.communicate()
    return out.decode(), err.decode(), status


@pytest.fixture
def execute() -> Shell:
    """``await execute(runtime, kernel_id, argv, **run_kwargs)`` -> (stdout, stderr, status)."""
    return run_to_end


@pytest.fixture
def sh() -> Shell:
    """``await sh(runtime, kernel_id, script, **run_kwargs)`` runs ``/bin/sh -c script``."""

    async def shell(
        runtime: KernelRuntime, kernel_id: str, script: str, **kwargs: Any
    ) -> tuple[str, str, ExitStatus]:
        return await run_to_end(runtime, kernel_id, ["/bin/sh", "-c", script], **kwargs)

    return shell
