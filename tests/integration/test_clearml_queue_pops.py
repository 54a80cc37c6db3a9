"""Many workers pop one queue at once through the ClearML API: every queued task goes to
exactly one of them, in order. On PostgreSQL the workers pop through two server processes
sharing the database."""

from __future__ import annotations

import base64
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.clearml import ClearmlApi
from tests.support.live import LiveServer, listening_url

pytestmark = pytest.mark.integration

TASKS = 120
WORKERS = 12


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[list[LiveServer]]:
    """One server on SQLite; two sharing the database on PostgreSQL."""
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = {"HANGAR_SERVER_KEY": key, "HANGAR_AGENT_RUNTIME": "none"}
    first = LiveServer(home=tmp_path / "a", database_url=database_url, extra_env=env)
    first.start()
    started = [first]
    try:
        if database_url.startswith("postgresql"):
            second = LiveServer(home=tmp_path / "b", database_url=database_url, extra_env=env)
            shutil.copytree(first.home / "config", second.home / "config")
            second.start()
            second.endpoint = listening_url(second)
            started.append(second)
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def test_concurrent_pops_hand_each_task_to_one_worker(servers: list[LiveServer]) -> None:
    apis = [ClearmlApi.of(s) for s in servers]
    admin = apis[0]
    queue = admin.call("queues.create", name="race", served_by="external")["id"]
    ids = []
    for i in range(TASKS):
        task = admin.call("tasks.create", name=f"race-{i}", type="training")["id"]
        admin.call("tasks.enqueue", task=task, queue=queue)
        ids.append(task)

    def worker(n: int) -> list[str]:
        api = ClearmlApi.of(servers[n % len(servers)])
        got = []
        while entry := api.call("queues.get_next_task", queue=queue).get("entry"):
            got.append(entry["task"])
        api.close()
        return got

    with ThreadPoolExecutor(WORKERS) as pool:
        per_worker = list(pool.map(worker, range(WORKERS)))

    popped = Counter(task for got in per_worker for task in got)
    assert sorted(popped) == sorted(ids) and set(popped.values()) == {1}
    for got in per_worker:  # each worker saw the queue's order
        assert got == sorted(got, key=ids.index)
    assert admin.call("queues.get_num_entries", queue=queue) == {"num": 0}
    for n, server in enumerate(servers):  # both processes handed out tasks
        assert any(per_worker[i] for i in range(n, WORKERS, len(servers))), server.endpoint
    for api in apis:
        api.close()
