"""Helpers for query-mode tests: one cell's records, and checks that kernels of every kind
(Jupyter, the stdlib runner) must pass alike."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

from hangar.agent.models import RunOutput
from hangar.agent.node import Node
from tests.support.agent_node import text


async def cell(
    node: Node,
    kernel: uuid.UUID,
    code: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    on_record: Callable[[RunOutput], None] | None = None,
) -> list[RunOutput]:
    """Every record of one query-mode cell (60 s at most)."""

    async def collect() -> list[RunOutput]:
        records = []
        async with contextlib.aclosing(node.run_query(kernel, code, timeout)) as stream:
            async for record in stream:
                records.append(record)
                if on_record is not None:
                    on_record(record)
        return records

    return await asyncio.wait_for(collect(), 60)


def console(records: list[RunOutput]) -> list[tuple[str, str]]:
    return [(r.kind, r.text) for r in records if r.kind in ("stdout", "stderr", "html")]


def end(records: list[RunOutput]) -> tuple[str, int | None]:
    return records[-1].kind, records[-1].exit_code


async def check_completions(node: Node, kernel: uuid.UUID) -> None:
    """Completion at a row/column and from a line's text (``sys`` is imported already)."""
    matches = await node.complete(kernel, "x = 1\nsys.ver", {"row": 1, "col": 7})
    assert set(matches) == {"sys.version", "sys.version_info"}
    assert "print" in await node.complete(kernel, "", {"line": "pri", "post": "(1)"})


async def check_cell_timeout(node: Node, kernel: uuid.UUID) -> None:
    """A cell over its limit ends with exec-timeout; the kernel keeps its globals."""
    await cell(node, kernel, "kept = 'yes'")
    records = await cell(node, kernel, "import time\ntime.sleep(30)", timeout=0.5)
    assert end(records) == ("exec-timeout", None)
    assert text(await cell(node, kernel, "print(kept)"), "stdout") == "yes\n"
