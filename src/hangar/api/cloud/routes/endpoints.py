"""Serverless endpoints, ``/v2/serverless`` (E1-E8).

An endpoint keeps ``workers`` worker sessions of its owner (``ep<id>-w<worker>`` in
``backend.ai ps``); another user's endpoint answers 14000 like an unknown one. Scaling
takes the three forms of spec §2.4 (``?count=``, ``/workers/{count}``, a body
``{"workers": N}``). Hangar's extras: ``minWorkers``/``maxWorkers``/``idleSeconds``
(autoscaling by load, scale to zero after ``idleSeconds`` without load when
``minWorkers`` is 0) and ``healthCheckPath`` (a worker counts as running once this path
answers 2xx on the exposed port; without it any HTTP answer does). ``gpuCount`` 0 asks for
CPU-only workers.

Beyond spec §4 item 14: an update is accepted in any state but STOPPING (a running
endpoint's workers roll over to the new spec), and delete in any state (the workers are
drained; the endpoint is gone for every read at once).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from hangar.api.cloud.endpointwire import endpoint_statuses, endpoint_wires, placements_of
from hangar.api.cloud.registry import Call, WireModel, route
from hangar.core.compute.ports import PortProtocol
from hangar.core.endpoints.models import (
    EndpointRequest,
    EndpointSpec,
    EndpointUpdate,
    Scaling,
    ServiceMode,
)
from hangar.core.errors import InvalidRequest, InvalidValue

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9@._-]{0,19}$")]
Text255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
EnvKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
PerCard = Annotated[int, Field(ge=0, le=1536)]
Volume = Annotated[int, Field(ge=20, le=10240)]
Count = Annotated[int, Field(ge=0, le=64)]
Webhook = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=512)]


class EnvVar(WireModel):
    key: EnvKey | None = None
    name: EnvKey | None = None  # the yotta CLI's spelling
    value: Annotated[str, Field(max_length=32768)] = ""

    @model_validator(mode="after")
    def _named(self) -> EnvVar:
        if not (self.key or self.name):
            raise ValueError("key is required")
        return self


class Expose(WireModel):
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: str = "http"

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value.lower() not in ("http", "tcp"):
            raise ValueError("expected http or tcp")
        return value.lower()


class Resource(WireModel):
    region: Annotated[str, StringConstraints(max_length=64)] | None = None
    gpu_type: Annotated[str, Field(max_length=64)] | None = None
    gpu_count: Annotated[int, Field(ge=0, le=64)] = 1

    @field_validator("gpu_count")
    @classmethod
    def _power(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("gpuCount must be a power of two (1, 2, 4, 8, ...)")
        return value


Resources = Annotated[list[Resource], Field(min_length=1, max_length=16)]


class EndpointBody(WireModel):
    """The fields create and update share."""

    name: Name
    resources: Resources
    workers: Annotated[int, Field(ge=1, le=64)]
    container_volume_in_gb: Volume
    container_registry_auth_id: Annotated[int, Field(ge=1)] | None = None
    credential_id: Annotated[int, Field(ge=1)] | None = None
    min_single_card_vram_in_gb: PerCard | None = None
    min_single_card_ram_in_gb: PerCard | None = None
    min_single_card_vcpu: Annotated[int, Field(ge=0, le=256)] | None = None
    initialization_command: Annotated[str, Field(max_length=8192)] | None = None
    environment_vars: Annotated[list[EnvVar], Field(max_length=256)] | None = None
    env_vars: Annotated[list[EnvVar], Field(max_length=256)] | None = None
    expose: Expose | None = None
    webhook: Webhook | None = None
    min_workers: Count | None = None
    max_workers: Count | None = None
    idle_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] | None = None
    health_check_path: Annotated[str, StringConstraints(pattern=r"^/\S{0,254}$")] | None = None

    @field_validator("expose", mode="before")
    @classmethod
    def _one_port(cls, value: Any) -> Any:
        """An object per the spec; a one-item list (the pods' form) is taken too."""
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value

    @model_validator(mode="after")
    def _same_count(self) -> EndpointBody:
        if len({r.gpu_count for r in self.resources}) > 1:
            raise ValueError("every resource must have the same gpuCount")
        if (self.max_workers or 0) and (self.min_workers or 0) > (self.max_workers or 0):
            raise ValueError("minWorkers must not exceed maxWorkers")
        return self


class CreateEndpoint(EndpointBody):
    image: Text255
    image_registry: Annotated[str, Field(max_length=255)] | None = None
    service_mode: str

    @field_validator("service_mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        if value.upper() not in ServiceMode.__members__:
            raise ValueError("expected ALB, QUEUE or CUSTOM")
        return value.upper()

    @model_validator(mode="after")
    def _alb_port(self) -> CreateEndpoint:
        if self.service_mode == "ALB" and (self.expose is None or self.expose.protocol != "http"):
            raise ValueError("an ALB endpoint needs expose with an http port")
        return self


WIRE_FIELDS = {"image": "image", "registry_auth_id": "containerRegistryAuthId",
               "resources": "resources", "workers": "workers", "gpu_type": "resources",
               "regions": "resources"}  # fmt: skip


def wire_error(exc: InvalidValue) -> InvalidRequest:
    name = WIRE_FIELDS.get(exc.field, exc.field)
    return InvalidRequest(f"{name}: {exc.reason}", data={name: exc.reason})


def _env(body: EndpointBody) -> tuple[tuple[str, str], ...]:
    found = body.environment_vars if body.environment_vars is not None else body.env_vars or []
    return tuple((e.key or e.name or "", e.value) for e in found)


_PER_CARD = (("min_single_card_vram_in_gb", "minSingleCardVramInGb"),
             ("min_single_card_ram_in_gb", "minSingleCardRamInGb"),
             ("min_single_card_vcpu", "minSingleCardVcpu"))  # fmt: skip


def _scaling(body: EndpointBody, old: Scaling) -> Scaling:
    given = body.model_fields_set
    return Scaling(
        body.min_workers or 0 if "min_workers" in given else old.min_workers,
        body.max_workers or 0 if "max_workers" in given else old.max_workers,
        body.idle_seconds or old.idle_seconds,
    )  # fmt: skip


async def spec_of(call: Call, body: EndpointBody, base: EndpointSpec) -> EndpointSpec:
    """``base`` with what the body gives (an update keeps what it leaves out)."""
    given = body.model_fields_set
    wanted = [(r.region, r.gpu_type, r.gpu_count) for r in body.resources]
    count = max(body.resources[0].gpu_count, 1)
    extras = dict(base.extras)
    extras.update({key: getattr(body, name) for name, key in _PER_CARD if name in given})
    changes: dict[str, Any] = {
        "placements": await placements_of(call, wanted), "disk_gb": body.container_volume_in_gb,
        "extras": extras, "cpu": max(1, (extras.get("minSingleCardVcpu") or 0) * count),
        "memory_gb": (extras.get("minSingleCardRamInGb") or 0) * count,
        "scaling": _scaling(body, base.scaling),
    }  # fmt: skip
    if given & {"container_registry_auth_id", "credential_id"}:
        changes["registry_auth_id"] = body.container_registry_auth_id or body.credential_id
    if given & {"environment_vars", "env_vars"}:
        changes["env"] = _env(body)
    if "initialization_command" in given:
        changes["init_command"] = body.initialization_command or ""
    if "expose" in given:
        changes["port"] = body.expose.port if body.expose else None
        changes["protocol"] = PortProtocol(body.expose.protocol if body.expose else "http")
    if "health_check_path" in given:
        changes["health_path"] = body.health_check_path or ""
    return dataclasses.replace(base, **changes)


@route("POST", "/v2/serverless")
async def create_endpoint(call: Call) -> dict[str, Any]:
    body = await call.body(CreateEndpoint)
    base = EndpointSpec(image=body.image, placements=(), image_registry=body.image_registry or "")
    spec = await spec_of(call, body, base)
    request = EndpointRequest(name=body.name, mode=ServiceMode(body.service_mode), spec=spec,
                              workers=body.workers, webhook=body.webhook)  # fmt: skip
    try:
        created = await call.services.endpoints.create(call.principal, request)
    except InvalidValue as exc:
        raise wire_error(exc) from None
    return (await endpoint_wires(call, [created]))[0]


@route("GET", "/v2/serverless")
async def list_endpoints(call: Call) -> list[dict[str, Any]]:
    statuses = endpoint_statuses(call.request.query_params.getlist("statusList"))
    found = await call.services.endpoints.owned(call.principal, statuses=statuses)
    return await endpoint_wires(call, found)


@route("GET", "/v2/serverless/{id}")
async def get_endpoint(call: Call) -> dict[str, Any]:
    found = await call.services.endpoints.get(call.principal, call.path_id())
    return (await endpoint_wires(call, [found]))[0]


@route("PATCH", "/v2/serverless/{id}")
async def update_endpoint(call: Call) -> dict[str, Any]:
    endpoint_id = call.path_id()
    endpoints = call.services.endpoints
    old = await endpoints.get(call.principal, endpoint_id)
    body = await call.body(EndpointBody)
    spec = await spec_of(call, body, old.spec)
    if old.mode is ServiceMode.ALB and (
        spec.port is None or spec.protocol is not PortProtocol.HTTP
    ):
        raise InvalidRequest(
            "expose: an ALB endpoint needs an http port", data={"expose": "required"}
        )
    clear = "webhook" in body.model_fields_set and body.webhook is None
    change = EndpointUpdate(name=body.name, spec=spec, workers=body.workers,
                            webhook=body.webhook, clear_webhook=clear)  # fmt: skip
    try:
        updated = await endpoints.update(call.principal, endpoint_id, change)
    except InvalidValue as exc:
        raise wire_error(exc) from None
    return (await endpoint_wires(call, [updated]))[0]


@route("DELETE", "/v2/serverless/{id}")
async def delete_endpoint(call: Call) -> bool:
    await call.services.endpoints.delete(call.principal, call.path_id())
    return True


@route("POST", "/v2/serverless/{id}/stop")
async def stop_endpoint(call: Call) -> bool:
    await call.services.endpoints.stop(call.principal, call.path_id())
    return True


@route("POST", "/v2/serverless/{id}/start")
async def start_endpoint(call: Call) -> bool:
    await call.services.endpoints.start(call.principal, call.path_id())
    return True


class ScaleBody(WireModel):
    workers: Count | None = None
    count: Count | None = None


async def _scale(call: Call, count: int) -> bool:
    if not 0 <= count <= 64:
        raise InvalidRequest("count: must be between 0 and 64", data={"count": "out of range"})
    try:
        await call.services.endpoints.scale(call.principal, call.path_id(), count)
    except InvalidValue as exc:
        raise wire_error(exc) from None
    return True


@route("PUT", "/v2/serverless/{id}/workers")
async def scale_by_query(call: Call) -> bool:
    raw = call.query.get("count")
    if raw is None:
        body = await call.body(ScaleBody)
        found = body.count if body.count is not None else body.workers
        if found is None:
            raise InvalidRequest("count: required", data={"count": "required"})
        return await _scale(call, found)
    if not raw.strip().isdigit() or len(raw.strip()) > 6:
        raise InvalidRequest("count: must be a non-negative integer", data={"count": "invalid"})
    return await _scale(call, int(raw))


@route("PUT", "/v2/serverless/{id}/workers/{count}")
async def scale_by_path(call: Call) -> bool:
    return await _scale(call, call.path_id("count"))


@route("POST", "/v2/serverless/{id}/workers")
async def scale_by_body(call: Call) -> bool:
    body = await call.body(ScaleBody)
    found = body.workers if body.workers is not None else body.count
    if found is None:
        raise InvalidRequest("workers: required", data={"workers": "required"})
    return await _scale(call, found)
