"""Sandboxes built ahead of runs (``prestart``): a run takes its kernel's waiting sandbox
instead of building one, and sees exactly the sandbox it would have built: the same user,
environment, filter, network and cgroup, its own PID namespace and /tmp; each waiting sandbox
serves one run of one kernel; output, input, exit codes and limits are as for any run."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from hangar.agent.models import BatchSteps
from hangar.agent.runtimes.base import KernelSpec, ResourceLimits, TerminationReason
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.component.agent.conftest import Shell, run_to_end
from tests.support.agent_node import collect, ends, make_node, request, text

Kernels = Callable[..., Awaitable[KernelSpec]]
PYTHON = "/usr/bin/python3"
# What a run sees of its sandbox; its PID and IPC namespaces are its own: left out.
VIEW = (
    "env | sort; id; grep -E '^(Seccomp|CapEff|CapBnd|NoNewPrivs):' /proc/self/status; "
    "readlink /proc/self/ns/net /proc/self/ns/user; echo pid $$; pwd; "
    "ls -a /tmp /home"
)


async def waiting(runtime: BubblewrapRuntime, kernel_id: str) -> int:
    """The pid of the kernel's waiting sandbox, once it is built."""
    assert runtime.waiters is not None
    for _ in range(400):
        pid = runtime.waiters.pid(kernel_id)
        if pid is not None:
            return pid
        await asyncio.sleep(0.025)
    raise AssertionError(f"no sandbox was built ahead for {kernel_id}")


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


async def test_a_run_in_a_sandbox_built_ahead_sees_the_sandbox_it_would_have_built(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1", environ={"GREETING": "hi"},
                  limits=ResourceLimits(pids_max=64))  # fmt: skip
    built_then = await sh(runtime, "k1", VIEW, env={"EXTRA": "1"}, cwd="/home/work")
    runtime.prestart("k1")
    pid = await waiting(runtime, "k1")
    handle = await runtime.run("k1", ["/bin/sh", "-c", VIEW], env={"EXTRA": "1"})
    assert handle.pid == pid  # the run took the waiting sandbox
    out, err, status = await handle.communicate()
    assert out.decode().splitlines() == built_then[0].splitlines()
    assert (err.decode(), status) == built_then[1:]
    assert "GREETING=hi" in out.decode() and "EXTRA=1" in out.decode()
    assert "Seccomp:\t2" in out.decode() and "uid=1000(work)" in out.decode()
    assert "pid 2" in out.decode()  # under the sandbox's own init, as any run


async def test_every_run_gets_a_sandbox_of_its_own(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    runtime.prestart("k1")
    first = await waiting(runtime, "k1")
    script = "readlink /proc/self/ns/pid; ls /tmp; echo left > /tmp/mark; sleep 60 & echo started"
    out1, _, _ = await sh(runtime, "k1", script)
    second = await waiting(runtime, "k1")  # built again after the run
    assert second != first and gone(first)
    out2, _, status = await sh(runtime, "k1", script)
    assert status.exit_code == 0
    ns1, ns2 = out1.split()[0], out2.split()[0]
    assert ns1 != ns2  # a new PID namespace: the first run's sleep died with its sandbox
    assert out2.split()[1:] == ["started"]  # and its /tmp is not there


async def test_output_input_exit_codes_and_limits_pass_through(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1")
    runtime.prestart("k1")

    async def prestarted(script: str, **kwargs: object) -> tuple[str, str, int, str]:
        pid = await waiting(runtime, "k1")
        handle = await runtime.run("k1", ["/bin/sh", "-c", script], **kwargs)  # type: ignore[arg-type]
        assert handle.pid == pid
        out, err, status = await handle.communicate()
        return out.decode(), err.decode(), status.exit_code, status.reason

    big = await prestarted("head -c 3000000 /dev/zero | tr '\\0' x; echo; echo done >&2")
    assert len(big[0]) == 3_000_001 and big[1] == "done\n" and big[2] == 0
    data = os.urandom(100_000).hex()
    assert (await prestarted("cat", stdin=data.encode()))[0] == data
    assert (await prestarted("cat; echo end"))[0] == "end\n"  # stdin: end of file at once
    assert (await prestarted("echo no >&2; exit 3"))[1:3] == ("no\n", 3)
    timed_out = await prestarted("sleep 30", timeout=0.5)
    assert timed_out[3] is TerminationReason.TIMED_OUT
    missing = await prestarted("echo never", cwd="/nowhere")
    assert missing[0] == "" and missing[2] != 0

    pid = await waiting(runtime, "k1")
    handle = await runtime.run("k1", ["/bin/cat"], stdin="pipe")
    assert handle.pid == pid and handle.stdin is not None
    handle.stdin.write(b"typed\n")
    handle.stdin.close()
    out, _, status = await handle.communicate()
    assert (out, status.exit_code) == (b"typed\n", 0)


async def test_a_waiting_sandbox_belongs_to_one_kernel_and_ends_with_it(
    runtime: BubblewrapRuntime, kernels: Kernels, sh: Shell
) -> None:
    await kernels(runtime, "k1", environ={"OWNER": "one"})
    await kernels(runtime, "k2", environ={"OWNER": "two"})
    runtime.prestart("k1")
    runtime.prestart("k2")
    await waiting(runtime, "k1")
    await waiting(runtime, "k2")
    for kernel, owner in (("k1", "one"), ("k2", "two")):
        out, _, _ = await sh(runtime, kernel, "echo $OWNER; ls /home/work")
        assert out.split()[0] == owner
    pid = await waiting(runtime, "k1")
    if runtime.cgroups is not None:  # it lives in its kernel's cgroup (once it joined it)
        cgroup = runtime.cgroups.cgroup_for("k1")
        for _ in range(1000):  # 10 s: under load joining takes a while
            if cgroup.pids():
                break
            await asyncio.sleep(0.01)
        assert cgroup.pids()
    await runtime.destroy("k1", remove_scratch=True)
    for _ in range(100):
        if gone(pid):
            break
        await asyncio.sleep(0.02)
    assert gone(pid)
    await asyncio.sleep(0.3)  # no refill for a destroyed kernel
    assert runtime.waiters is not None and runtime.waiters.pid("k1") is None


async def test_an_interactive_session_made_from_a_pooled_sandbox_runs_in_its_own(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    node.warm_pool([PYTHON])
    assert node.sandboxes is not None
    for _ in range(600):
        if node.sandboxes._ready.get(PYTHON):
            break
        await asyncio.sleep(0.05)
    first = request(interpreter=PYTHON, interactive=True, environ={"OWNER": "first"})
    second = request(interpreter=PYTHON, interactive=True, environ={"OWNER": "second"})
    try:
        for made in (first, second):
            await node.create_kernel(made)
            key = str(made.kernel_id)
            await waiting(runtime, key)
            script = "echo $OWNER $BACKENDAI_SESSION_ID; command -v python; python -c 'print(1)'"
            records = await collect(node, made.kernel_id, BatchSteps(exec=script))
            owner, shims = made.environ["OWNER"], data_dir / "scratch" / ".hangar-shims"
            said_owner, said_key, found, printed = text(records, "stdout").split()
            assert [said_owner, said_key, printed] == [owner, key, "1"]
            # the session's own shim, or the pooled sandbox's it took (bound where it was built)
            shim = Path(found).parent.parent
            assert shim.parent == shims and (shim.name == key or shim.name.startswith("pool-"))
            assert ends(records) == [("finished", 0)]
    finally:
        for made in (first, second):
            await node.destroy_kernel(made.kernel_id)
        await node.shutdown()


def test_sandboxes_built_for_nothing_leave_no_open_pipes_behind(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    async def main() -> None:  # on the server's loop (uvloop), which owns no pipe's file
        for round_ in range(16):  # thrown away with their kernel, built or being built
            spec = KernelSpec(f"gone{round_}", data_dir / "scratch" / f"gone{round_}")
            await runtime.create(spec)
            runtime.prestart(spec.kernel_id)
            if round_ < 4:
                await waiting(runtime, spec.kernel_id)
            for _ in range(round_ % 6):  # to catch it at each step of its start
                await asyncio.sleep(0)
            await runtime.destroy(spec.kernel_id, remove_scratch=True)
            gc.collect()  # what the loop still watches must not be closed under it
        spec = KernelSpec("k1", data_dir / "scratch" / "k1")
        await runtime.create(spec)
        try:
            runtime.prestart("k1")
            for _ in range(6):
                out, err, status = await run_to_end(runtime, "k1", ["/bin/sh", "-c", "echo ok"])
                assert (out, err, status.exit_code) == ("ok\n", "", 0)
        finally:
            await runtime.destroy("k1", remove_scratch=True)

    uvloop.run(main())


async def test_a_session_made_from_a_pooled_sandbox_takes_the_sandbox_built_with_it(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    """The pooled sandbox keeps a sandbox built ahead of its first run, and the session that
    adopts it takes that one along: its first run starts in it, with the session's own
    environment, service files (/tmp/.hangar) and home, nothing built on the way."""
    node = make_node(runtime, data_dir, sandbox_pool_size=1)
    node.warm_pool([PYTHON])
    assert node.sandboxes is not None and runtime.waiters is not None
    for _ in range(600):
        if node.sandboxes._ready.get(PYTHON):
            break
        await asyncio.sleep(0.05)
    pool_id = node.sandboxes._ready[PYTHON][0].kernel_id
    built = await waiting(runtime, pool_id)
    made = request(interpreter=PYTHON, interactive=True, environ={"OWNER": "me"})
    key = str(made.kernel_id)
    try:
        await node.create_kernel(made)
        assert runtime.waiters.pid(key) == built  # ready before the session's first run
        script = "echo $OWNER $BACKENDAI_SESSION_ID; ls /tmp/.hangar; cat ~/id_container.pub"
        records = await collect(node, made.kernel_id, BatchSteps(exec=script))
        lines = text(records, "stdout").splitlines()
        assert lines[0] == f"me {key}"
        assert "sshd_config" in lines[1:-1] and "run" in lines[1:-1]
        public = (data_dir / "scratch" / key / "id_container.pub").read_text().strip()
        assert lines[-1] == public  # the session's own key, written after the adoption
        assert ends(records) == [("finished", 0)]
        assert gone(built)  # it served that run and no other
    finally:
        await node.destroy_kernel(made.kernel_id)
        await node.shutdown()
