"""One run's parts: the launcher's spec, its files on the host, the session it asks for."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Protocol

from hangar.core.agents.models import AgentRecord
from hangar.core.compute.models import CreateRequest, Origin, OriginKind, SessionSpec
from hangar.core.compute.states import SessionType
from hangar.core.errors import NotFound
from hangar.core.queues.executor import plan as p
from hangar.core.queues.executor import workspace as ws
from hangar.core.queues.executor.models import Run, ServedQueue
from hangar.core.queues.models import OWN_GROUP
from hangar.core.resources.service import Resources
from hangar.settings import Settings


def spec_of(
    settings: Settings, run: Run, plan: p.RunPlan, secret: str, api_port: int
) -> dict[str, Any]:
    """What the launcher reads: the plan, the run's credentials, pip's sources."""
    pip_args = ["--find-links", ws.WHEELS_IN_SESSION] if settings.executor.wheel_dir else []
    pip_args += ["--no-index"] if settings.executor.pip_offline else []
    return ws.session_spec(
        plan, task_id=run.task_id, worker=run.worker, api_port=api_port,
        keys=(run.access_key, secret), sdk=settings.executor.sdk_path is not None,
        pip_args=pip_args,
    )  # fmt: skip


async def write_files(settings: Settings, run: Run, plan: p.RunPlan, spec: dict[str, Any]) -> None:
    """The run's directory, code fetched (in a thread). Raises CodeUnavailable."""
    await asyncio.to_thread(
        ws.prepare, run.files, plan, spec, local_repos=settings.executor.local_repos,
        uid=settings.sandbox.work_uid, gid=settings.sandbox.work_gid,
    )  # fmt: skip


async def session_request(
    settings: Settings,
    resources: Resources,
    run: Run,
    plan: p.RunPlan,
    queue: ServedQueue,
    group: str,
    agent_id: str | None,
) -> CreateRequest:
    """A batch session of the task's owner, sized by the queue's resource preset (the
    image's defaults without one): on ``agent_id``, this server's agent, in its own group;
    on any agent of ``group`` otherwise (remote agents: the run's directory is shipped to
    the one chosen, :class:`~hangar.core.queues.executor.mounts.TaskMounts`).
    Raises NotFound (the preset)."""
    slots: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    preset_name = queue.resource_preset or settings.executor.resource_preset
    if preset_name:
        preset = await resources.preset(preset_name)
        if preset is None:
            raise NotFound("resource preset", f"No resource preset {preset_name!r}")
        slots = dict(preset.resource_slots)
        opts = {"shmem": preset.shared_memory} if preset.shared_memory else {}
    spec = SessionSpec(image=plan.image, resources=slots, resource_opts=opts,
                       command=run.files.command())  # fmt: skip
    return CreateRequest(
        name=plan.session_name, spec=spec, origin=Origin(OriginKind.EXPERIMENT_TASK, run.task_id),
        session_type=SessionType.BATCH, domain_name=run.owner.domain_name, scaling_group=group,
        enqueue_only=True, owner=run.owner, reuse_if_exists=False, tag=run.task_id,
        agent_list=(agent_id,) if agent_id and group == OWN_GROUP else (),
    )  # fmt: skip


class AgentsHere(Protocol):
    """The agents connected to this server process (the agent service)."""

    async def alive(self, *, anywhere: bool = False) -> list[AgentRecord]: ...


async def reachable(
    queues: list[ServedQueue], default: str, agents: AgentsHere | None, *, own: str | None
) -> list[ServedQueue]:
    """The queues whose runs this process can start: its own agent's (``own``) group, and
    groups with an agent connected to this process (it ships a run's files over its link to
    the agent; with several server processes, the one an agent reports to runs its group's
    tasks)."""
    if agents is None or (own and all((q.scaling_group or default) == OWN_GROUP for q in queues)):
        return queues
    here = {agent.scaling_group for agent in await agents.alive()}
    mine = {OWN_GROUP} if own else set()
    return [q for q in queues if (q.scaling_group or default) in here | mine]


def goes_remote(group: str, own: str | None) -> bool:
    """Whether a run of ``group`` goes to a remote agent (``own``: this server's agent)."""
    return group != OWN_GROUP or own is None


def on_remote(run: Run) -> bool:
    """Whether the run's session goes to remote agents (a queue mapped to their group, or
    a server without an agent of its own)."""
    return run.remote or run.worker != p.worker_name(OWN_GROUP)


def contacted(run: Run, line: ws.ApiLine | None) -> bool:
    """Whether the run's launcher called in. A remote agent relays the API itself: there is
    no sign of it here, so a remote run counts as contacted (never queued again)."""
    return on_remote(run) or (line is not None and run.task_id in line.contacted)


def note_session(run: Run, session_id: uuid.UUID) -> None:
    """Remember the run's session in its directory (a restarted server adopts it)."""
    (run.files.root / "session").write_text(str(session_id))
