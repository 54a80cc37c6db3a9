"""``/session``: create or reuse, inspect, control and execute in compute sessions."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from hangar.agent.models import BatchSteps
from hangar.api.bai import compute_wire
from hangar.api.bai.auth import user
from hangar.api.bai.owners import owner_named
from hangar.api.bai.params import Params, raw_params, read_params
from hangar.api.bai.stats import ended_stat, last_stat
from hangar.api.common.context import services_of
from hangar.api.common.params import validate
from hangar.api.common.routing import Router, no_content
from hangar.core.compute.models import (
    ComputeSession,
    CreateOutcome,
    CreateRequest,
    RestartPolicy,
    SessionSpec,
)
from hangar.core.compute.options import mount_specs
from hangar.core.compute.states import SessionType
from hangar.core.errors import InvalidRequest

router = Router(prefix="/session")


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class SessionConfig(Params):
    mounts: list[str] | None = None
    environ: dict[str, str] | None = None
    resources: dict[str, Any] | None = None
    resource_opts: dict[str, Any] | None = Field(
        None, validation_alias=_alias("resource_opts", "resourceOpts")
    )
    scaling_group: str | None = Field(
        None, validation_alias=_alias("scalingGroup", "scaling_group")
    )
    mount_map: dict[str, str] | None = Field(None, validation_alias=_alias("mount_map", "mountMap"))
    agent_list: list[str] | None = Field(None, validation_alias=_alias("agentList", "agent_list"))
    preopen_ports: list[int | str] | None = Field(
        None, validation_alias=_alias("preopen_ports", "preopenPorts")
    )
    # Hangar's own: a batch session's command run again when it ends (on-failure, always).
    restart_policy: RestartPolicy = Field(
        RestartPolicy.NEVER, validation_alias=_alias("restartPolicy", "restart_policy")
    )


class CreateParams(Params):
    name: str = Field(validation_alias=_alias("name", "clientSessionToken"))
    image: str = Field(validation_alias=_alias("image", "lang"))
    architecture: str = Field("x86_64", validation_alias=_alias("arch", "architecture"))
    type: SessionType = Field(
        SessionType.INTERACTIVE, validation_alias=_alias("type", "sessionType")
    )
    domain: str = Field("default", validation_alias=_alias("domain", "domainName", "domain_name"))
    group: str = Field("default", validation_alias=_alias("group", "groupName", "group_name"))
    cluster_size: int = Field(1, ge=1, validation_alias=_alias("clusterSize", "cluster_size"))
    cluster_mode: str = Field("single-node", validation_alias=_alias("clusterMode", "cluster_mode"))
    config: SessionConfig = Field(default_factory=SessionConfig)
    tag: str | None = None
    enqueue_only: bool = Field(False, validation_alias=_alias("enqueueOnly", "enqueue_only"))
    max_wait_seconds: int = Field(
        0, ge=0, validation_alias=_alias("maxWaitSeconds", "max_wait_seconds")
    )
    reuse_if_exists: bool = Field(True, validation_alias=_alias("reuseIfExists", "reuse_if_exists"))
    startup_command: str | None = Field(
        None, validation_alias=_alias("startupCommand", "startup_command")
    )
    bootstrap_script: str | None = Field(
        None, validation_alias=_alias("bootstrap_script", "bootstrapScript")
    )
    starts_at: str | None = Field(None, validation_alias=_alias("starts_at", "startsAt"))
    callback_url: str | None = Field(
        None, validation_alias=_alias("callback_url", "callbackUrl", "callbackURL")
    )
    owner_access_key: str | None = None
    dependencies: list[str] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def to_request(self) -> CreateRequest:
        config = self.config
        spec = SessionSpec(
            image=self.image,
            architecture=self.architecture,
            resources=dict(config.resources or {}),
            resource_opts=dict(config.resource_opts or {}),
            env=dict(config.environ or {}),
            command=self.startup_command,
            bootstrap_script=self.bootstrap_script,
            mounts=mount_specs(config.mounts or (), config.mount_map),
            ports=compute_wire.preopen_ports(config.preopen_ports),
            restart=config.restart_policy,
        )
        return CreateRequest(
            name=self.name,
            spec=spec,
            session_type=self.type,
            group_name=self.group,
            domain_name=self.domain,
            scaling_group=config.scaling_group,
            tag=self.tag,
            callback_url=self.callback_url,
            starts_at=self.starts_at,
            cluster_size=self.cluster_size,
            cluster_mode=self.cluster_mode,
            enqueue_only=self.enqueue_only,
            max_wait_seconds=self.max_wait_seconds,
            reuse_if_exists=self.reuse_if_exists,
            dependencies=tuple(self.dependencies or ()),
            agent_list=tuple(config.agent_list or ()),  # `run` sends [] for none
        )


class OwnerParams(Params):
    owner_access_key: str | None = Field(
        None, validation_alias=_alias("owner_access_key", "ownerAccessKey")
    )
    forced: bool = False


class ExecuteParams(Params):
    mode: str | None = None
    code: str = ""  # the SDK sends null in batch mode when no code is given
    run_id: str | None = Field(None, validation_alias=_alias("runId", "run_id"))
    options: dict[str, Any] | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


def create_response(
    result: CreateOutcome, service_ports: list[dict[str, Any]] | None = None
) -> Response:
    """The create/reuse answer; ``service_ports`` (wire form) are shown only when RUNNING."""
    from starlette.responses import JSONResponse

    session = result.session
    status = compute_wire.create_status(result)
    ports = (service_ports or []) if status == "RUNNING" else []
    body = {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": status,
        "servicePorts": ports,
        "service_ports": ports,
        "created": result.created,
    }
    return JSONResponse(body, status_code=201 if result.created else 200)


@router.post("")
@router.post("/_/create")
async def create(request: Request) -> Response:
    caller = user(request)
    params = await read_params(request, CreateParams)
    services = services_of(request)
    req = params.to_request()
    owner = await owner_named(request, params.owner_access_key)
    result = await services.compute.create(caller, dataclasses.replace(req, owner=owner))
    ports = [compute_wire.service_port(p) for p in await services.apps.apps_of(result.session)]
    return create_response(result, ports)


@router.get("/_/match")
async def match(request: Request) -> dict[str, Any]:
    caller = user(request)
    prefix = str((await raw_params(request)).get("id", ""))
    sessions = await services_of(request).compute.matching(caller, prefix)
    return {
        "matches": [{"id": str(s.id), "name": s.name, "status": s.status.value} for s in sessions]
    }


@router.get("/_/logs")
async def task_logs(request: Request) -> Response:
    caller = user(request)
    query = await raw_params(request)
    ref = query.get("taskId") or query.get("task_id") or query.get("sessionName") or ""
    logs = await services_of(request).compute.logs(caller, str(ref))
    return PlainTextResponse(logs)


@router.get("/{ref}")
async def info(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, OwnerParams)
    compute = services_of(request).compute
    owner = await owner_named(request, params.owner_access_key)
    session = await compute.resolve(caller, request.path_params["ref"], owner=owner)
    return info_body(session, services_of(request).clock.now())


def info_body(session: ComputeSession, now: datetime) -> dict[str, Any]:
    registry, _, _ = session.image_ref.rpartition("/")
    tag = session.image_ref.rpartition(":")[2]
    return {
        "domainName": session.domain_name,
        "groupId": str(session.group_id),
        "userId": str(session.user_uuid),
        "lang": session.image_ref,
        "image": session.image_ref,
        "architecture": "x86_64",
        "registry": registry or "local",
        "tag": tag,
        "containerId": str(session.id),
        "occupiedSlots": json.dumps(session.occupied_slots),
        "occupiedShares": json.dumps({}),
        "environ": json.dumps(session.environ),
        "status": session.status.value,
        "statusInfo": session.status_info,
        "statusData": session.status_data,
        "age": int((now - session.created_at).total_seconds() * 1000),
        "creationTime": str(session.created_at),
        "terminationTime": str(session.terminated_at) if session.terminated_at else None,
        "numQueriesExecuted": session.num_queries,
        "lastStat": last_stat(session.last_stat),
        "resourceOpts": json.dumps(session.resource_opts),
        "startsAt": session.starts_at.isoformat() if session.starts_at else None,
    }


@router.delete("/{ref}")
async def destroy(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = validate(OwnerParams, dict(request.query_params))
    # A non-admin's forced termination is refused for that first, owner or not.
    refused = params.forced and not caller.is_admin
    owner = None if refused else await owner_named(request, params.owner_access_key)
    ended = await services_of(request).compute.destroy(
        caller,
        request.path_params["ref"],
        forced=params.forced,
        owner=owner,
    )
    return {"stats": ended_stat(ended)}


@router.patch("/{ref}")
async def restart(request: Request) -> Response:
    caller = user(request)
    await services_of(request).compute.restart(caller, request.path_params["ref"])
    return no_content()


@router.post("/{ref}/rename")
async def rename(request: Request) -> Response:
    caller = user(request)
    params = await raw_params(request)
    new_name = params.get("name") or params.get("clientSessionToken")
    if not isinstance(new_name, str):
        raise InvalidRequest("name: the new session name is required")
    await services_of(request).compute.rename(caller, request.path_params["ref"], new_name)
    return no_content()


@router.post("/{ref}/interrupt")
async def interrupt(request: Request) -> Response:
    caller = user(request)
    await services_of(request).compute.interrupt(caller, request.path_params["ref"])
    return no_content()


@router.post("/{ref}/complete")
async def complete(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, ExecuteParams)
    services = services_of(request)
    session = await services.compute.running(caller, request.path_params["ref"])
    completions = await services.executions.complete(session, params.code, params.options)
    return {"result": {"status": "finished", "completions": completions}}


@router.get("/{ref}/logs")
async def logs(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, OwnerParams)
    owner = await owner_named(request, params.owner_access_key)
    text = await services_of(request).compute.logs(caller, request.path_params["ref"], owner=owner)
    return {"result": {"logs": text}}


def batch_steps(options: dict[str, Any] | None) -> BatchSteps:
    options = options or {}
    return BatchSteps(
        clean=options.get("clean") or None,
        build=options.get("build") or None,
        exec=options.get("exec") or None,
        build_log=bool(options.get("buildLog", False)),
    )


@router.post("/{ref}")
async def execute(request: Request) -> dict[str, Any]:
    """Polling execution (§4.2): query cells in the session's Jupyter kernel, batch runs."""
    caller = user(request)
    params = await read_params(request, ExecuteParams)
    services = services_of(request)
    session = await services.compute.running(caller, request.path_params["ref"])
    mode = params.mode or ("complete" if (params.options or {}).get("row") is not None else None)
    if mode == "continued":
        mode = "continue"
    executions = services.executions
    if mode in ("batch", "query"):
        executions.ensure_reachable(session)
    if mode == "batch":
        run = executions.start_batch(session, batch_steps(params.options), params.run_id)
    elif mode in ("continue", "input"):
        if not params.run_id:
            raise InvalidRequest("continuation requires explicit run ID")
        run = executions.get(session, params.run_id)
        if mode == "input":
            await executions.send_input(session, run, params.code)
    elif mode == "complete":
        completions = await executions.complete(session, params.code, params.options)
        return {"result": {"status": "finished", "completions": completions}}
    elif mode == "query":
        run = executions.start_query(session, params.code, params.run_id)
    else:
        raise InvalidRequest(f"mode must be query, batch, continue, input or complete: {mode}")
    await services.compute.count_query(session)
    result = await executions.take(session, run)
    return {"result": compute_wire.run_result(result)}
