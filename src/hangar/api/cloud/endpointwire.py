"""Serverless endpoints and workers in the face's words (spec §2.4-2.5): string ids,
uppercase statuses, ``totalWorkers`` = the workers wanted, ``runningWorkers`` = those
answering, ``cost`` accrued; plus the extras clients read (``resources``, ``expose``,
``domain``, env, autoscaling knobs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hangar.api.cloud.gputypes import gpu_type
from hangar.api.cloud.registry import Call
from hangar.api.cloud.routes.catalogue import region_of
from hangar.api.gateway.stats import snapshot
from hangar.core.billing.models import Metered
from hangar.core.endpoints.models import (
    Endpoint,
    EndpointStatus,
    Placement,
    Worker,
    WorkerStatus,
)
from hangar.core.errors import InvalidRequest
from hangar.core.pods.models import DeviceChoice

DOCKER_HUB = "https://index.docker.io/v1/"
DEFAULT_GROUP = "default"
E, W = EndpointStatus, WorkerStatus
_ENDPOINT_FILTER = {**{s.value: s for s in E}, "INITIALIZE": E.INITIALIZING}
_WORKER_FILTER = {**{s.value: s for s in W}, "INITIALIZE": W.INITIALIZING}


def _words(raw: Sequence[str]) -> list[str]:
    return [w.strip().upper() for item in raw for w in item.split(",") if w.strip()]


def _unknown(word: str) -> InvalidRequest:
    return InvalidRequest(f"statusList: unknown status {word[:32]!r}",
                          data={"statusList": "unknown status"})  # fmt: skip


def endpoint_statuses(raw: Sequence[str]) -> frozenset[EndpointStatus] | None:
    """``statusList`` (comma-separated or repeated, any case); None when absent. TERMINATED
    is accepted and matches nothing listed (deleted endpoints are gone)."""
    words = _words(raw)
    if not words:
        return None
    for word in words:
        if word not in _ENDPOINT_FILTER and word != "TERMINATED":
            raise _unknown(word)
    return frozenset(_ENDPOINT_FILTER[w] for w in words if w in _ENDPOINT_FILTER)


def worker_statuses(raw: Sequence[str]) -> frozenset[WorkerStatus] | None:
    words = _words(raw)
    for word in words:
        if word not in _WORKER_FILTER:
            raise _unknown(word)
    return frozenset(_WORKER_FILTER[w] for w in words) if words else None


def group_of(region: str | None) -> str | None:
    if not region or region == "local":
        return DEFAULT_GROUP if region else None
    return region


async def placements_of(
    call: Call, wanted: Sequence[tuple[str | None, str | None, int]]
) -> tuple[Placement, ...]:
    """The core's placements for ``resources`` (region, gpuType, gpuCount): a GPU type code
    the inventory does not offer is 10001 ("gpu type [X] not supported"); no region means
    any group that offers the type."""
    groups = await call.services.accelerators.groups()
    found: list[Placement] = []
    for region, code, count in wanted:
        group = group_of(region)
        if count == 0 or not code:
            found.append(Placement(group or DEFAULT_GROUP, "", 0, None))
            continue
        offered = [g for g in groups if gpu_type(g.model, g.memory_bytes).code == code]
        if not offered:
            raise InvalidRequest(f"resources: gpu type [{code}] not supported",
                                 data={"resources": "gpu type not supported"})  # fmt: skip
        device = DeviceChoice(offered[0].model, offered[0].memory_bytes)
        names = [group] if group else sorted({g.scaling_group for g in offered})
        found += [Placement(n, code, count, device) for n in names]
    return tuple(dict.fromkeys(found))


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _resources(endpoint: Endpoint) -> list[dict[str, Any]]:
    return [{"region": region_of(p.scaling_group), "gpuType": p.gpu_type or None,
             "gpuCount": p.gpu_count} for p in endpoint.spec.placements]  # fmt: skip


def gateway_url(call: Call, endpoint: Endpoint) -> str:
    base = str(call.request.base_url).rstrip("/")
    return f"{base}/serverless-proxy/{endpoint.id}/"


def endpoint_wire(call: Call, endpoint: Endpoint, cost: float = 0.0) -> dict[str, Any]:
    spec = endpoint.spec
    env = [{"key": k, "value": v} for k, v in spec.env]
    expose = None if spec.port is None else {"port": spec.port, "protocol": spec.protocol.value}
    suffix = call.services.settings.endpoints.domain
    return {
        "id": str(endpoint.id), "name": endpoint.name, "image": spec.image,
        "status": endpoint.status.value, "totalWorkers": endpoint.target,
        "runningWorkers": endpoint.running_workers, "cost": cost,
        "serviceMode": endpoint.mode.value, "webhook": endpoint.webhook,
        "imageRegistry": spec.image_registry or DOCKER_HUB,
        "containerRegistryAuthId": spec.registry_auth_id, "resources": _resources(endpoint),
        "containerVolumeInGb": spec.disk_gb, "environmentVars": env, "envVars": env,
        "expose": expose, "initializationCommand": spec.init_command or None,
        "minSingleCardVramInGb": spec.extras.get("minSingleCardVramInGb"),
        "minSingleCardRamInGb": spec.extras.get("minSingleCardRamInGb"),
        "minSingleCardVcpu": spec.extras.get("minSingleCardVcpu"),
        "domain": f"{endpoint.domain}.{suffix}", "gatewayUrl": gateway_url(call, endpoint),
        "workers": endpoint.workers, "minWorkers": spec.scaling.min_workers,
        "maxWorkers": spec.scaling.max_workers or None, "idleSeconds": spec.scaling.idle_seconds,
        "healthCheckPath": spec.health_path or None, "statusInfo": endpoint.status_info,
        "createdAt": iso(endpoint.created_at), "updatedAt": iso(endpoint.updated_at),
        "gatewayMetrics": snapshot(endpoint.id),
    }  # fmt: skip


async def endpoint_wires(call: Call, endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    costs = await call.services.billing.cost(Metered.ENDPOINT, [e.id for e in endpoints])
    return [endpoint_wire(call, e, float(costs.get(e.id, 0))) for e in endpoints]


async def gpu_names(call: Call) -> dict[str, str]:
    """GPU type codes of the inventory and their display names."""
    found = (gpu_type(g.model, g.memory_bytes) for g in await call.services.accelerators.groups())
    return {t.code: t.display_name for t in found}


def worker_wire(
    worker: Worker, now: datetime, names: dict[str, str], cost: float = 0.0
) -> dict[str, Any]:
    running = worker.status is W.RUNNING and worker.running_at is not None
    uptime = int((now - worker.running_at).total_seconds()) if running and worker.running_at else 0
    return {
        "workerId": str(worker.id), "id": str(worker.id), "status": worker.status.value,
        "createdAt": epoch_ms(worker.created_at), "region": region_of(worker.scaling_group),
        "gpuType": worker.gpu_type or None, "gpuCount": worker.gpu_count,
        "gpuDisplayName": names.get(worker.gpu_type, worker.gpu_type) or None,
        "uptime": uptime, "cost": cost, "statusInfo": worker.status_info,
        "sessionId": None if worker.session_id is None else str(worker.session_id),
    }  # fmt: skip
