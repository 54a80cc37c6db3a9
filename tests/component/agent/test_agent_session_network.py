"""Private networks of kernels (real bubblewrap, real namespaces, real pasta).

Each kernel has one network namespace that all of its processes share and nothing else
reaches: not the host's loopback services, not the host's own addresses, not other
kernels; the agent reaches a kernel's ports only from inside (``open_port``). ``egress``
adds outbound connections through pasta. The namespace is found by the kernel id alone, so
an agent that restarted still removes it. Needs root (skipped otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from hangar.agent.errors import KernelCreationFailed
from hangar.agent.runtimes.base import KernelSpec, RunningProcess
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.runtimes.network import NetworkPolicy
from tests.component.agent.conftest import PYTHON, Shell

pytestmark = pytest.mark.usefixtures("needs_python")
Kernels = Callable[..., Awaitable[KernelSpec]]
PORT = 8000
PROBE = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 4)
except OSError as e:
    print("failed", e)
    sys.exit()
s.settimeout(1)
try:
    print("connected", s.recv(100).decode().strip())
except OSError:
    print("connected")
"""
OUTSIDE = (("1.1.1.1", 80), ("8.8.8.8", 53), ("9.9.9.9", 53))


def private(runtime: BubblewrapRuntime) -> BubblewrapRuntime:
    if runtime.networks is None:
        pytest.skip(f"no private networks here: {runtime.notes}")
    return runtime


def host_address() -> str | None:
    """This host's own non-loopback address (the source of its default route), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def reachable_outside() -> tuple[str, int] | None:
    """An address outside this host that the host itself can connect to, if any."""
    for address in OUTSIDE:
        with contextlib.suppress(OSError), socket.create_connection(address, 3):
            return address
    return None


@contextlib.asynccontextmanager
async def greeter(host: str) -> AsyncIterator[int]:
    """A host service on ``host`` that says hello; yields its port."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the host\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, host, 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def probe(
    runtime: BubblewrapRuntime, kernel: str, execute: Shell, host: str, port: int
) -> str:
    out, err, _ = await execute(runtime, kernel, [PYTHON, "-c", PROBE, host, str(port)])
    return out.strip() or err


async def serve_http(runtime: BubblewrapRuntime, kernel: str) -> RunningProcess:
    """``python3 -m http.server 8000`` in the kernel, once it answers (asked from inside)."""
    await runtime.run(kernel, ["/bin/sh", "-c", f"echo served by {kernel} > index.html"])
    server = await runtime.run(kernel, [PYTHON, "-m", "http.server", str(PORT), "-b", "127.0.0.1"])
    for _ in range(200):
        with contextlib.suppress(OSError):
            _, writer = await runtime.open_port(kernel, PORT)
            writer.close()
            return server
        await asyncio.sleep(0.05)
    raise AssertionError("http.server did not start")


async def http_get(runtime: BubblewrapRuntime, kernel: str) -> str:
    reader, writer = await runtime.open_port(kernel, PORT)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    body = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return body.decode()


async def test_a_kernel_reaches_neither_the_host_loopback_nor_the_host_itself(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    private(runtime)
    await kernels(runtime, "k1")
    async with greeter("0.0.0.0") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"hello from the host\n"  # from the host, it works
        writer.close()
        assert (await probe(runtime, "k1", execute, "127.0.0.1", port)).startswith("failed")
        address = host_address()
        if address is not None:
            assert (await probe(runtime, "k1", execute, address, port)).startswith("failed")


async def test_processes_of_a_kernel_share_a_network_nobody_else_reaches(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell
) -> None:
    private(runtime)
    await kernels(runtime, "k1")
    await kernels(runtime, "k2")
    server = await serve_http(runtime, "k1")
    try:
        assert "served by k1" in await http_get(runtime, "k1")  # the agent, from inside
        fetch = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{PORT}').read())"
        out, _, _ = await execute(runtime, "k1", [PYTHON, "-c", fetch])
        assert "served by k1" in out  # another process of the same kernel
        assert (await probe(runtime, "k2", execute, "127.0.0.1", PORT)).startswith("failed")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", PORT), 2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(2)
            assert b"served by k1" not in s.recv(4096)  # the host's 8000 is not the kernel's
        with pytest.raises(ConnectionRefusedError):
            await runtime.open_port("k2", PORT)
    finally:
        server.kill()
        await server.wait()


async def test_egress_reaches_outside_and_none_does_not(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels, execute: Shell
) -> None:
    outside = reachable_outside()
    if outside is None:
        pytest.skip("this machine reaches no address outside itself")
    egress = private(make_runtime())
    closed = private(make_runtime(network=NetworkPolicy.NONE))
    await kernels(egress, "out1")
    await kernels(closed, "out2")
    assert (await probe(egress, "out1", execute, *outside)).startswith("connected")
    assert (await probe(closed, "out2", execute, *outside)).startswith("failed")


def pasta_pid(runtime: BubblewrapRuntime, kernel: str) -> int:
    assert runtime.networks is not None
    holder = runtime.networks.holder(kernel)
    assert holder is not None
    return int((runtime.networks.state_dir / f".{holder.token}.pasta.pid").read_text())


def running(pid: int) -> bool:
    try:
        return b"--netns" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


async def test_a_restarted_agent_removes_a_kernels_network_by_its_id(
    make_runtime: Callable[..., BubblewrapRuntime], kernels: Kernels
) -> None:
    first = private(make_runtime())
    await kernels(first, "k1")
    assert first.networks is not None
    path = first.networks.path("k1")
    assert path is not None and path.exists()
    pid = pasta_pid(first, "k1")
    assert running(pid)
    holder = first.networks.holder("k1")
    assert holder is not None
    second = make_runtime()  # a new agent process: it knows nothing of k1 but its id
    await second.destroy("k1", remove_scratch=False)
    await second.destroy("k1", remove_scratch=False)  # idempotent
    assert first.networks.path("k1") is None
    for _ in range(100):
        if not holder.alive():
            break
        await asyncio.sleep(0.02)
    assert not holder.alive()
    for _ in range(100):
        if not running(pid):
            break
        await asyncio.sleep(0.02)
    assert not running(pid)


async def test_an_adopted_kernel_keeps_its_network_and_processes(
    runtime: BubblewrapRuntime, kernels: Kernels, data_dir: Path
) -> None:
    private(runtime)
    spec = await kernels(runtime, "pool-1")
    server = await serve_http(runtime, "pool-1")
    adopted = KernelSpec("adopted", data_dir / "scratch" / "adopted")
    try:
        await runtime.adopt("pool-1", adopted)
        assert "served by pool-1" in await http_get(runtime, "adopted")
        assert runtime.networks is not None and runtime.networks.path("pool-1") is None
    finally:
        server.kill()
        await server.wait()
        await runtime.destroy("adopted", remove_scratch=True)
    assert spec.kernel_id == "pool-1"
    assert runtime.networks.holder("adopted") is None  # destroyed with the adopted kernel


async def test_sandboxes_start_while_other_kernels_networks_come_and_go(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell, data_dir: Path
) -> None:
    """A sandbox copies the host's mount table: a namespace kept by a bind mount that is
    removed meanwhile made bwrap fail ("Can't bind mount /oldroot/ on /newroot/")."""
    private(runtime)
    await kernels(runtime, "steady")

    done = asyncio.Event()

    async def churn(worker: int) -> None:
        n = 0
        while not done.is_set():
            spec = KernelSpec(f"churn{worker}-{n}", data_dir / "scratch" / f"churn{worker}-{n}")
            await runtime.create(spec)
            await runtime.destroy(spec.kernel_id, remove_scratch=True)
            n += 1

    async def runs() -> list[tuple[int, str]]:
        ended = [await execute(runtime, "steady", ["/bin/true"]) for _ in range(60)]
        done.set()
        return [(status.exit_code, err) for _, err, status in ended]

    *_, results = await asyncio.gather(churn(0), churn(1), runs())
    assert all(code == 0 for code, _ in results), results


@pytest.fixture
def second_host_address() -> Iterator[str]:
    """One more address of this host (on lo, as a bridge or VPN would add one)."""
    address = "198.18.251.7"
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    added = subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=False)
    if added.returncode != 0:
        pytest.skip("cannot add an address here")
    try:
        yield address
    finally:
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


async def test_egress_does_not_reach_the_hosts_other_addresses(
    runtime: BubblewrapRuntime, kernels: Kernels, execute: Shell, second_host_address: str
) -> None:
    private(runtime)
    await kernels(runtime, "k1")  # made after the address appeared
    async with greeter("0.0.0.0") as port:
        reader, writer = await asyncio.open_connection(second_host_address, port)
        assert await reader.readline() == b"hello from the host\n"
        writer.close()
        shown = await probe(runtime, "k1", execute, second_host_address, port)
    assert shown.startswith("failed"), shown


def _naming(text: str) -> list[str]:
    """The command lines of the processes that name ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if text.encode() in line:
            words = line.decode(errors="replace").split("\0")
            found.append(f"{entry.name}: {' '.join(words)}")
    return found


async def test_a_kernel_creation_cancelled_midway_leaves_no_pasta_behind(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    """A create cancelled while its network starts (a client gone, a shutdown) still ends
    the network's pasta, whichever step it was at."""
    private(runtime)
    assert runtime.networks is not None
    state = str(runtime.networks.state_dir)
    for step in range(12):
        kernel_id = f"cancelled-{step}"
        task = asyncio.create_task(
            runtime.create(KernelSpec(kernel_id, data_dir / "scratch" / kernel_id))
        )
        await asyncio.sleep(step * 0.004)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, KernelCreationFailed):
            await task
        await runtime.destroy(kernel_id, remove_scratch=True)  # made before the cancel
    for _ in range(100):  # a pasta started meanwhile forks its daemon a moment later
        if not _naming(state):
            break
        await asyncio.sleep(0.05)
    assert _naming(state) == []
