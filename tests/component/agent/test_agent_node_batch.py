"""Batch runs through the node on the fake runtime: statuses, defaults, 127 rules, timeout,
interrupt, streaming, serialisation, the console log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hangar.agent.models import BatchSteps, RunOutput
from hangar.agent.node import Node
from hangar.agent.node_errors import UnknownKernel
from hangar.agent.runtimes.fake import FakeRuntime
from tests.support.agent_node import collect, ends, make_node, request, text

WAIT_FOR_GO = "while [ ! -f go ]; do sleep 0.02; done"
HOST_PYTHON = os.path.realpath("/usr/bin/python3")


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = make_node(FakeRuntime(), tmp_path, interrupt_grace=0.3)
    yield node
    for kernel_id in node.kernel_ids():
        await node.destroy_kernel(kernel_id)


@pytest.fixture
async def kernel(node: Node) -> uuid.UUID:
    creation = request()
    await node.create_kernel(creation)
    return creation.kernel_id


async def test_default_exec_runs_main_py_with_the_image_python(
    node: Node, kernel: uuid.UUID
) -> None:
    main = (
        b"import os, sys\nprint(os.path.realpath(sys.executable))\nprint('warn', file=sys.stderr)\n"
    )
    await node.upload(kernel, [("main.py", main)])
    records = await collect(node, kernel, BatchSteps(clean="*", build="*", exec="*"))
    assert text(records, "stdout") == HOST_PYTHON + "\n"
    assert text(records, "stderr") == "warn\n"
    # clean "*" does nothing (no record); build "*" without setup.py succeeds
    assert ends(records) == [("build-finished", 0), ("finished", 0)]


async def test_default_exec_without_main_py_is_127(node: Node, kernel: uuid.UUID) -> None:
    records = await collect(node, kernel, BatchSteps(exec="*"))
    assert "main.py not found" in text(records, "stderr")
    assert ends(records) == [("finished", 127)]


async def test_failed_build_skips_exec_and_finishes_127(node: Node, kernel: uuid.UUID) -> None:
    steps = BatchSteps(clean="echo cleaning", build="echo building; exit 3", exec="echo EXEC")
    records = await collect(node, kernel, steps)
    assert text(records, "stdout") == "cleaning\nbuilding\n"
    assert ends(records) == [("clean-finished", 0), ("build-finished", 3), ("finished", 127)]


async def test_steps_run_in_order_in_home_and_exec_code_wins(node: Node, kernel: uuid.UUID) -> None:
    steps = BatchSteps(clean="exit 4", build="touch built", exec="ls built && pwd && exit 5")
    records = await collect(node, kernel, steps)
    assert text(records, "stdout").startswith("built\n")
    assert ends(records) == [("clean-finished", 4), ("build-finished", 0), ("finished", 5)]


async def test_nothing_to_run_finishes_zero(node: Node, kernel: uuid.UUID) -> None:
    assert await collect(node, kernel, BatchSteps()) == [RunOutput("finished", exit_code=0)]


async def test_build_only_finishes_with_its_code(node: Node, kernel: uuid.UUID) -> None:
    records = await collect(node, kernel, BatchSteps(build="echo b", build_log=True))
    assert ends(records) == [("build-finished", 0), ("finished", 0)]


async def test_streams_keep_their_own_order(node: Node, kernel: uuid.UUID) -> None:
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'no newline'"
    records = await collect(node, kernel, BatchSteps(exec=script))
    assert text(records, "stdout") == "out1\nout2\nout3\nno newline"
    assert text(records, "stderr") == "err1\nerr2\nerr3\n"
    assert records[-1] == RunOutput("finished", exit_code=0)


async def test_utf8_split_across_chunks_is_decoded(node: Node, kernel: uuid.UUID) -> None:
    script = r"printf '\xc3'; " + WAIT_FOR_GO + r"; printf '\xa9\n'"
    run = node.run_batch(kernel, BatchSteps(exec=script))
    async with contextlib.aclosing(run):
        await node.upload(kernel, [("go", b"")])
        records = [record async for record in run]
    assert text(records, "stdout") == "é\n"


async def test_output_arrives_while_the_step_runs(node: Node, kernel: uuid.UUID) -> None:
    run = node.run_batch(kernel, BatchSteps(exec=f"echo first; {WAIT_FOR_GO}; echo second"))
    async with contextlib.aclosing(run):
        assert await anext(run) == RunOutput("stdout", "first\n")
        await node.upload(kernel, [("go", b"")])
        rest = [record async for record in run]
    assert text(rest, "stdout") == "second\n"
    assert ends(rest) == [("finished", 0)]


async def test_timeout_kills_the_run(node: Node, kernel: uuid.UUID) -> None:
    steps = BatchSteps(build="echo b", exec="echo started; sleep 60; echo never", timeout=0.5)
    records = await asyncio.wait_for(collect(node, kernel, steps), 10)
    assert "never" not in text(records, "stdout")
    assert ends(records) == [("build-finished", 0), ("exec-timeout", None)]


async def test_timeout_covers_the_whole_run(node: Node, kernel: uuid.UUID) -> None:
    steps = BatchSteps(build="sleep 60", exec="echo EXEC", timeout=0.3)
    records = await asyncio.wait_for(collect(node, kernel, steps), 10)
    assert ends(records) == [("exec-timeout", None)]
    assert text(records, "stdout") == ""


async def test_interrupt_sends_sigint_and_ends_the_run(node: Node, kernel: uuid.UUID) -> None:
    script = "trap 'echo caught >&2; exit 130' INT; echo ready; while :; do sleep 0.05; done"
    run = node.run_batch(kernel, BatchSteps(exec=script))
    async with contextlib.aclosing(run):
        assert (await anext(run)).text == "ready\n"
        await node.interrupt(kernel)
        rest = await asyncio.wait_for(_drain(run), 10)
    assert "caught" in text(rest, "stderr")
    assert ends(rest) == [("finished", 130)]


async def test_interrupt_kills_a_step_that_ignores_sigint(node: Node, kernel: uuid.UUID) -> None:
    script = "trap '' INT; echo ready; while :; do sleep 0.05; done"
    run = node.run_batch(kernel, BatchSteps(exec=script))
    async with contextlib.aclosing(run):
        await anext(run)
        await node.interrupt(kernel)
        await node.interrupt(kernel)  # a second request is harmless
        rest = await asyncio.wait_for(_drain(run), 10)
    assert ends(rest) == [("finished", 137)]


async def test_interrupt_during_build_does_not_run_exec(node: Node, kernel: uuid.UUID) -> None:
    steps = BatchSteps(build="echo ready; sleep 60", exec="echo EXEC")
    run = node.run_batch(kernel, steps)
    async with contextlib.aclosing(run):
        await anext(run)
        await node.interrupt(kernel)
        rest = await asyncio.wait_for(_drain(run), 10)
    assert "EXEC" not in text(rest, "stdout")
    assert ends(rest)[-1] == ("finished", 127)


async def test_interrupt_when_idle_is_not_an_error(node: Node, kernel: uuid.UUID) -> None:
    await node.interrupt(kernel)
    with pytest.raises(UnknownKernel):
        await node.interrupt(uuid.uuid4())


async def test_runs_of_one_kernel_are_serialised(node: Node, kernel: uuid.UUID) -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def consume(name: str, steps: BatchSteps) -> None:
        async with contextlib.aclosing(node.run_batch(kernel, steps)) as run:
            async for record in run:
                events.append(f"{name}:{record.kind}:{record.text.strip()}")
                started.set()

    first = asyncio.create_task(consume("one", BatchSteps(exec=f"echo a; {WAIT_FOR_GO}")))
    await started.wait()
    second = asyncio.create_task(consume("two", BatchSteps(exec="echo b")))
    for _ in range(20):
        await asyncio.sleep(0)
    assert events == ["one:stdout:a"]  # the second run waits for the first
    await node.upload(kernel, [("go", b"")])
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert events == [
        "one:stdout:a",
        "one:finished:",
        "two:stdout:b",
        "two:finished:",
    ]


async def test_closing_a_run_early_kills_its_step(node: Node, kernel: uuid.UUID) -> None:
    run = node.run_batch(kernel, BatchSteps(exec="echo $$; sleep 60"))
    async with contextlib.aclosing(run):
        pid = int((await anext(run)).text)
    records = await asyncio.wait_for(collect(node, kernel, BatchSteps(exec="echo next")), 10)
    assert text(records, "stdout") == "next\n"
    assert _gone(pid)


async def test_console_log_has_bootstrap_and_batch_output(node: Node) -> None:
    creation = request(bootstrap_script="echo booting; echo boot-err >&2")
    await node.create_kernel(creation)
    kernel = creation.kernel_id
    await collect(node, kernel, BatchSteps(exec="echo from-exec; echo exec-err >&2"))
    log = await node.logs(kernel)
    for line in ("booting", "boot-err", "from-exec", "exec-err"):
        assert line in log
    await node.destroy_kernel(kernel)
    assert await node.logs(kernel) == log  # kept after destroy


async def test_unknown_kernels(node: Node) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(UnknownKernel):
        await collect(node, ghost, BatchSteps(exec="true"))
    with pytest.raises(UnknownKernel):
        await node.logs(ghost)
    with pytest.raises(UnknownKernel):
        await node.stats(ghost)


async def test_destroy_ends_a_waiting_and_an_active_run(node: Node, kernel: uuid.UUID) -> None:
    run = node.run_batch(kernel, BatchSteps(exec="echo ready; sleep 60"))
    async with contextlib.aclosing(run):
        await anext(run)
        waiting = asyncio.create_task(collect(node, kernel, BatchSteps(exec="echo b")))
        await node.destroy_kernel(kernel)
        rest = await asyncio.wait_for(_drain(run), 10)
    assert ends(rest) == [("finished", 137)]
    with pytest.raises(UnknownKernel):
        await asyncio.wait_for(waiting, 10)


async def _drain(run: AsyncIterator[RunOutput]) -> list[RunOutput]:
    return [record async for record in run]


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize("limit", [None, 0, -1])
async def test_no_timeout(node: Node, kernel: uuid.UUID, limit: float | None) -> None:
    records = await collect(node, kernel, BatchSteps(exec="echo ok", timeout=limit))
    assert ends(records) == [("finished", 0)]
