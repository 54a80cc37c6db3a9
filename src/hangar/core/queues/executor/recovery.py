"""What the executor does about runs it did not start itself: runs whose server process is
gone (their lease ran out, or a restart on the same data dir) are taken over and followed to
their end; tasks popped but never started go back to their queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from hangar.core.clock import Clock
from hangar.core.errors import HangarError
from hangar.core.identity.service import IdentityService
from hangar.core.principal import Principal
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.endings import Endings
from hangar.core.queues.executor.ledger import RunLedger
from hangar.core.queues.executor.models import SYSTEM, QueueFeed, Run, RunRecord
from hangar.core.tracking import query as q
from hangar.core.tracking.tasks.experiments import Experiments
from hangar.core.tracking.tasks.states import STOPPING, TaskStatus
from hangar.settings import Settings

log = logging.getLogger("hangar.core.queues.executor")

LOST_AFTER = timedelta(seconds=30)  # queued in no queue this long: put back


class Recovery:
    """The executor's recovery steps (a part of :class:`Executor`)."""

    _settings: Settings
    _clock: Clock
    _feed: QueueFeed
    _experiments: Experiments
    _identity: IdentityService
    _endings: Endings
    _ledger: RunLedger | None
    _runs: dict[str, Run]
    _by_session: dict[uuid.UUID, Run]
    _line: ws.ApiLine | None
    _agent_id: str | None
    base: Path

    async def recover(self) -> None:
        """Take over the runs whose server process is gone (see :mod:`.ledger`), then
        adopt the runs this data dir holds that no process claims (runs started before
        the ledger, or whose start the server did not live to record)."""
        if self._ledger is not None:
            for record in await self._ledger.take_over():
                if record.task_id not in self._runs:
                    await self._take_over(record)
        await self._scan_dirs()

    async def _take_over(self, record: RunRecord) -> None:
        assert self._ledger is not None
        found = await self._experiments.task_reads.find(SYSTEM, [record.task_id])
        task = found[0] if found else None
        files = ws.run_files(self.base, record.task_id)
        mine = record.home == self._ledger.home
        if (
            task is None
            or task.status is not TaskStatus.IN_PROGRESS
            or (task.last_worker != record.worker)
        ):  # the run ended, only its row was left
            await self._drop(record, files if mine else None)
            return
        if record.session_id is None:
            why = "the server running it stopped before the task's session started"
            await self._endings.finish(task.id, p.Ending(p.Outcome.FAILED, why), record.worker)
            await self._drop(record, files if mine else None)
            return
        owner, _ = await self._owner(record.user)
        run = Run(record.task_id, owner, record.worker, files, record.access_key,
                  session_id=record.session_id, domain=record.domain,
                  queue_ids=[record.queue_id] if record.queue_id else [],
                  remote=self._agent_id is None)  # fmt: skip
        self._runs[run.task_id] = run
        self._by_session[record.session_id] = run
        if mine and files.root.is_dir() and self._line is not None:
            await self._line.open(run.task_id, files.socket)
        log.info("executor took over task %s (session %s)", run.task_id, record.session_id)

    async def _drop(self, record: RunRecord, files: ws.RunFiles | None) -> None:
        assert self._ledger is not None
        await self._ledger.close(record.task_id)
        with contextlib.suppress(HangarError):
            await self._identity.delete_keypair(record.access_key)
        if files is not None:
            await asyncio.to_thread(ws.remove, files)

    async def _scan_dirs(self) -> None:
        query = q.Query(conditions=(
            q.InList("status", any_of=(q.Term(TaskStatus.IN_PROGRESS.value),)),
            q.Matches("last_worker", re.compile("^" + re.escape(p.WORKER_PREFIX))),
        ))  # fmt: skip
        docs = await self._experiments.task_reads.search(SYSTEM, query)
        ledgered = set() if self._ledger is None else await self._ledger.known(
            [d["id"] for d in docs]
        )  # fmt: skip
        for doc in docs:
            files = ws.run_files(self.base, doc["id"])
            if doc["id"] in self._runs or doc["id"] in ledgered or not files.root.is_dir():
                continue
            try:
                session_id = uuid.UUID((files.root / "session").read_text().strip())
                spec = json.loads(files.spec.read_text())
            except (OSError, ValueError):
                await self._endings.finish(doc["id"], p.Ending(
                    p.Outcome.FAILED, "the server restarted before the task's session started"
                ), doc.get("last_worker") or "")  # fmt: skip
                await asyncio.to_thread(ws.remove, files)
                continue
            await self._adopt(doc, files, session_id, spec["access_key"])

    async def _adopt(
        self, doc: dict[str, Any], files: ws.RunFiles, session_id: uuid.UUID, access_key: str
    ) -> None:
        owner, _ = await self._owner(uuid.UUID(doc["user"]))
        run = Run(doc["id"], owner, doc["last_worker"], files, access_key,
                  session_id=session_id, domain=doc.get("company") or "default",
                  remote=self._agent_id is None)  # fmt: skip
        if self._ledger is not None:  # from now on its lease says whose it is
            await self._ledger.open(RunRecord(
                run.task_id, owner.user_uuid, run.domain, run.worker, None, access_key,
                session_id, self._ledger.home, self._clock.now(),
            ))  # fmt: skip
        self._runs[run.task_id] = run
        self._by_session[session_id] = run
        if self._line is not None:
            await self._line.open(run.task_id, files.socket)
        log.info("executor adopted task %s (session %s)", run.task_id, session_id)

    async def requeue_lost(self) -> int:
        """Put back tasks that are queued for a queue Hangar serves but sit in no queue for
        longer than ``LOST_AFTER`` (a server died between the pop and the start); one whose
        stop came after the pop ends stopped instead. Returns how many went back."""
        served = await self._feed.served()
        waiting = {e for queue in served for e in queue.task_ids}
        by_id = {queue.id: queue for queue in served}
        query = q.Query(conditions=(
            q.InList("status", any_of=(q.Term(TaskStatus.QUEUED.value),)),
        ))  # fmt: skip
        cutoff = self._clock.now() - LOST_AFTER
        lost = 0
        for doc in await self._experiments.task_reads.search(SYSTEM, query):
            queue_id = (doc.get("execution") or {}).get("queue")
            changed = doc.get("status_changed")
            if queue_id not in by_id or doc["id"] in waiting or doc["id"] in self._runs:
                continue
            if changed is None or changed > cutoff:
                continue
            if doc.get("status_message") == STOPPING:  # its stop came after the pop
                group = by_id[queue_id].scaling_group or self._settings.executor.scaling_group
                stopped = p.Ending(p.Outcome.STOPPED, "task was stopped by tasks.stop")
                await self._endings.finish(doc["id"], stopped, p.worker_name(group))
                continue
            await self._feed.put_back(queue_id, doc["id"])
            log.warning("task %s was queued in no queue: put back into %s", doc["id"], queue_id)
            lost += 1
        return lost

    async def _owner(self, user: uuid.UUID) -> tuple[Principal, str]:
        owner, keypair = await self._identity.on_behalf_of(user)
        await self._identity.delete_keypair(
            keypair.keypair.access_key
        )  # only the principal is needed
        return owner, keypair.keypair.access_key
