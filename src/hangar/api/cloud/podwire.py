"""A pod in the face's words: the seed's fields (epoch-ms times, uppercase status) plus the
extras clients read (``expose`` with each port's proxy URL, ``region``, sizes, env)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hangar.api.cloud.registry import Call
from hangar.api.cloud.routes.catalogue import region_of
from hangar.core.billing.models import Metered
from hangar.core.compute.ports import PortProtocol
from hangar.core.errors import InvalidRequest
from hangar.core.pods.models import Pod, PodStatus, ResourceKind

DOCKER_HUB = "https://index.docker.io/v1/"
PROXY_PREFIX = "/pod-proxy"
P = PodStatus
# spec §3.2: names, the SkyPilot/v1 aliases and the integer codes 0-6
_FILTER: dict[str, frozenset[PodStatus]] = {
    **{s.value: frozenset({s}) for s in P},
    "INITIALIZE": frozenset({P.INITIALIZING}),
    "PAUSING": frozenset({P.STOPPING}),
    "PAUSED": frozenset({P.STOPPED}),
    **{str(i): frozenset({s}) for i, s in enumerate(
        (P.INITIALIZING, P.RUNNING, P.STOPPING, P.STOPPED, P.TERMINATING, P.TERMINATED,
         P.FAILED))},
}  # fmt: skip


def statuses_of(raw: Sequence[str]) -> frozenset[PodStatus] | None:
    """``statusList`` (comma-separated or repeated; names any case, aliases, codes); None
    when absent. Raises InvalidRequest naming the parameter."""
    words = [w.strip().upper() for item in raw for w in item.split(",") if w.strip()]
    if not words:
        return None
    found: set[PodStatus] = set()
    for word in words:
        if word not in _FILTER:
            raise InvalidRequest(f"statusList: unknown status {word[:32]!r}",
                                 data={"statusList": "unknown status"})  # fmt: skip
        found |= _FILTER[word]
    return frozenset(found)


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def proxy_url(call: Call, pod_id: int, port: int) -> str:
    base = str(call.request.base_url).rstrip("/")
    return f"{base}{PROXY_PREFIX}/{pod_id}/{port}/"


def _expose(call: Call, pod: Pod) -> list[dict[str, Any]]:
    running = pod.status is P.RUNNING
    host = call.request.url.hostname or ""
    found = []
    for port in pod.spec.ports:
        http = port.protocol is PortProtocol.HTTP
        found.append({
            "port": port.port, "protocol": port.protocol.value, "host": host,
            "proxyPort": call.request.url.port, "healthy": running,
            "ingressUrl": proxy_url(call, pod.id, port.port) if http else "",
            "serviceName": str(port.port),
            # any port (tcp ones only this way): the app proxy binds it to a local port
            "proxyCmd": f"hangar app {pod.session_name} {port.port} -b {port.port}",
        })  # fmt: skip
    return found


def ssh_command(pod: Pod) -> str:
    """How to reach the pod's sshd: Hangar's app proxy binds it to a local port."""
    return f"hangar app {pod.session_name} sshd -b 10022 & ssh -p 10022 work@127.0.0.1"


async def pod_wires(call: Call, pods: Sequence[Pod]) -> list[dict[str, Any]]:
    """The pods with their accrued cost (USD, from the administrator's prices)."""
    costs = await call.services.billing.cost(Metered.POD, [p.id for p in pods])
    return [pod_wire(call, pod, float(costs.get(pod.id, 0))) for pod in pods]


def pod_wire(call: Call, pod: Pod, cost: float = 0.0) -> dict[str, Any]:
    spec = pod.spec
    gpu = spec.resource is ResourceKind.GPU
    env = [{"key": k, "value": v} for k, v in spec.env]
    return {
        "id": pod.id, "name": pod.name, "image": spec.image,
        "imageRegistry": spec.image_registry or DOCKER_HUB,
        "imagePublicType": spec.extras.get("imagePublicType", "PUBLIC"),
        "containerRegistryAuthId": spec.registry_auth_id,
        "resourceType": spec.resource.value,
        "gpuType": spec.gpu_type if gpu else "",
        "gpuDisplayName": spec.extras.get("gpuDisplayName", spec.gpu_type) if gpu else "",
        "gpuCount": spec.gpu_count, "status": pod.status.value,
        "createdAt": epoch_ms(pod.created_at), "updatedAt": epoch_ms(pod.updated_at),
        "sshCmd": ssh_command(pod) if pod.status is P.RUNNING else "",
        "region": region_of(pod.scaling_group),
        "containerVolumeInGb": spec.disk_gb, "shmInGb": spec.shm_gb,
        "singleCardVramInGb": spec.extras.get("minSingleCardVramInGb"),
        "singleCardRamInGb": spec.extras.get("minSingleCardRamInGb"),
        "singleCardVcpu": spec.extras.get("minSingleCardVcpu"),
        "singleCardPrice": 0, "cost": cost,
        "persistentVolumeInGb": spec.persistent_gb or None,
        "persistentMountPath": spec.persistent_path or None,
        "persistentVolumes": [{"volumeId": i, "mountPath": m} for i, m in spec.volumes],
        "environmentVars": env, "envVars": env,
        "initializationCommand": spec.init_command or None,
        "expose": _expose(call, pod), "internalIp": "",
        "sessionName": pod.session_name, "statusInfo": pod.status_info,
    }  # fmt: skip
