"""Every domain has its default queue, also one created while the server runs: the
executor's periodic pass makes it, so Hangar serves it before anyone there looks. Queue
metadata edits made at once never lose each other's items."""

from __future__ import annotations

import asyncio

from hangar.core.principal import Role
from hangar.core.queues.executor.models import SYSTEM
from hangar.core.queues.models import ServedBy
from hangar.core.services import Services
from tests.component.test_executor_recovery import executor
from tests.component.test_queues import user


async def test_a_domain_created_later_gets_its_default_queue(services: Services) -> None:
    await services.admin.identity.create_domain(SYSTEM, "lab", {})
    assert executor(services)._feed is not None
    await executor(services)._feed.ensure_defaults()

    served = await services.queues.reads.served_by(ServedBy.HANGAR)
    assert {q.company for q in served if q.is_default} >= {"default", "lab"}
    ada = await user(services, "ada@lab.test", domain_name="lab")
    default = await services.queues.reads.default(ada)
    assert default.company == "lab" and [q.id for q in served if q.company == "lab"] == [default.id]


async def test_concurrent_metadata_edits_keep_every_item(services: Services) -> None:
    boss = await user(services, "boss@meta.test", role=Role.ADMIN, is_admin=True)
    queue = await services.queues.service.create(boss, "meta")
    edit = services.queues.service.edit_metadata

    await asyncio.gather(*(
        edit(boss, queue, put={f"k{i}": {"key": f"k{i}", "type": "", "value": str(i)}})
        for i in range(8)
    ))  # fmt: skip
    assert sorted((await services.queues.reads.get(boss, queue)).metadata) == [
        f"k{i}" for i in range(8)
    ]
    assert await edit(boss, queue, drop=["k0", "nope"]) == 1
    assert await edit(boss, queue, drop=["k0"]) == 0
    assert await edit(boss, queue, put={"x": {"key": "x"}}, replace=True) == 1
    assert (await services.queues.reads.get(boss, queue)).metadata == {"x": {"key": "x"}}
