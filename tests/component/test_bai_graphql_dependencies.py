"""GraphQL session lists carry each session's dependencies, as a single lookup does, read
with one query for the whole page however many sessions it holds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.services import Services
from tests.component.test_bai_graphql import Account, account, gql, ps_document, ps_variables

SESSION = "query($id: UUID!) { compute_session(id: $id) { name dependencies { name id } } }"
KEYPAIR = "query { keypair { compute_sessions { name dependencies { name } } } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"agent_runtime": "none"}


async def create(services: Services, who: Account, name: str, *after: str) -> uuid.UUID:
    """An enqueued session of ``who``, created a second after the one before."""
    assert isinstance(services.clock, FakeClock)
    services.clock.advance(1)
    result = await services.compute.create(
        who.caller,
        CreateRequest(
            name=name,
            spec=SessionSpec("python"),
            enqueue_only=True,
            domain_name=who.caller.domain_name,
            dependencies=after,
        ),
    )
    return result.session.id


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements run while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(services.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.engine.sync_engine, "before_cursor_execute", record)


async def listing(client: httpx.AsyncClient, who: Account) -> dict[str, list[str]]:
    document = ps_document("name dependencies { name }")
    data = await gql(client, who.signer, document, ps_variables(status=None, limit=100))
    return {
        item["name"]: [d["name"] for d in item["dependencies"]]
        for item in data["compute_session_list"]["items"]
    }


async def test_lists_show_dependencies_with_one_query_per_page(
    services: Services, client: httpx.AsyncClient
) -> None:
    ada = await account(services, "ada@example.com")
    await create(services, ada, "fetch")
    await create(services, ada, "clean")
    await create(services, ada, "train-1", "fetch", "clean")
    train = await create(services, ada, "train-2", "clean")
    with statements(services) as few:
        small = await listing(client, ada)
    assert small == {"fetch": [], "clean": [], "train-1": ["fetch", "clean"], "train-2": ["clean"]}

    for index in range(3, 9):
        await create(services, ada, f"train-{index}", "fetch")
    with statements(services) as many:
        big = await listing(client, ada)
    assert len(big) == 10 and big["train-8"] == ["fetch"]
    assert len(many) == len(few), many  # not one query per session

    # The single lookup and the keypair's session list agree with the page.
    one = await gql(client, ada.signer, SESSION, {"id": str(train)})
    assert [d["name"] for d in one["compute_session"]["dependencies"]] == ["clean"]
    keypair = await gql(client, ada.signer, KEYPAIR)
    by_name = {s["name"]: s for s in keypair["keypair"]["compute_sessions"]}
    assert [d["name"] for d in by_name["train-1"]["dependencies"]] == ["fetch", "clean"]


async def test_dependencies_follow_what_the_caller_may_see(
    services: Services, client: httpx.AsyncClient
) -> None:
    ada = await account(services, "ada@example.com")
    bob = await account(services, "bob@example.com")
    await create(services, ada, "base")
    await create(services, ada, "next", "base")
    await create(services, bob, "solo")
    assert await listing(client, bob) == {"solo": []}
    assert await listing(client, ada) == {"base": [], "next": ["base"]}
