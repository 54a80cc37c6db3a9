"""Pure parts of pods: the status a pod shows for each session status, the group a pod is
sent to, and the spec's stored form."""

from __future__ import annotations

import pytest

from hangar.core.compute.ports import PortProtocol
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import InvalidValue
from hangar.core.pods.models import DeviceChoice, PodPort, PodSpec, PodStatus, ResourceKind
from hangar.core.pods.placement import choose_group
from hangar.core.pods.service import session_spec
from hangar.core.pods.states import pod_status
from hangar.core.resources.accelerators import AcceleratorGroup

S, P = SessionStatus, PodStatus
GIB = 1 << 30
H100 = DeviceChoice("NVIDIA H100 80GB HBM3", 80 * GIB)
RTX = DeviceChoice("NVIDIA GeForce RTX 4090", 24 * GIB)


@pytest.mark.parametrize(
    ("session", "deleted", "pod"),
    [
        (None, False, P.INITIALIZING),
        (None, True, P.TERMINATED),
        (S.PENDING, False, P.INITIALIZING),
        (S.PULLING, False, P.INITIALIZING),
        (S.RUNNING, False, P.RUNNING),
        (S.SUSPENDED, False, P.STOPPED),
        (S.TERMINATING, False, P.TERMINATING),
        (S.TERMINATED, False, P.TERMINATED),
        (S.CANCELLED, False, P.TERMINATED),
        (S.ERROR, False, P.FAILED),
        (S.RUNNING, True, P.TERMINATING),  # deleted, its session not ended yet
        (S.TERMINATED, True, P.TERMINATED),
    ],
)
def test_a_pod_shows_its_sessions_status(
    session: SessionStatus | None, deleted: bool, pod: PodStatus
) -> None:
    assert pod_status(session, deleted=deleted) is pod


def test_every_session_status_has_a_pod_status() -> None:
    for status in SessionStatus:
        assert isinstance(pod_status(status, deleted=False), PodStatus)


def group(device: DeviceChoice, name: str, total: int, free: int) -> AcceleratorGroup:
    return AcceleratorGroup(device.model, device.memory_bytes, name, total, free)


GROUPS = [group(RTX, "default", 2, 2), group(H100, "default", 1, 0), group(H100, "east", 4, 2)]


def test_a_group_with_free_devices_wins_then_one_with_enough_devices() -> None:
    assert choose_group(GROUPS, (), H100, 1, "H100") == "east"  # default's H100 is taken
    assert choose_group(GROUPS, ("default", "east"), H100, 2, "H100") == "east"
    assert choose_group(GROUPS, ("default",), H100, 1, "H100") == "default"  # it waits there
    assert choose_group(GROUPS, (), RTX, 2, "RTX") == "default"


def test_no_such_device_or_not_that_many() -> None:
    with pytest.raises(InvalidValue) as raised:
        choose_group(GROUPS, ("default",), RTX, 4, "RTX")
    assert raised.value.field == "gpu_count"
    with pytest.raises(InvalidValue) as raised:
        choose_group(GROUPS, ("east",), RTX, 1, "RTX")
    assert raised.value.field == "gpu_type"


def test_cpu_pods_go_to_the_first_region_asked_for() -> None:
    assert choose_group(GROUPS, (), None, 0, "") == "default"
    assert choose_group(GROUPS, ("east", "default"), None, 0, "") == "east"


def test_the_spec_survives_its_stored_form_and_becomes_a_session() -> None:
    spec = PodSpec(
        image="python:3", resource=ResourceKind.GPU, gpu_type="NVIDIA_H100_80G", gpu_count=2,
        device_model=H100.model,
        cpu=4, shm_gb=2, disk_gb=20, env=(("A", "1"),), init_command="echo hi",
        ports=(PodPort(8080), PodPort(9000, PortProtocol.TCP)), volumes=((7, "/data"),),
        persistent_gb=5, persistent_path="/keep", extras={"imagePublicType": "PUBLIC"},
    )  # fmt: skip
    assert PodSpec.from_json(spec.to_json()) == spec
    session = session_spec(spec)
    assert dict(session.resources) == {"cpu": "4", "mem": "3g", "cuda.device": "2"}
    assert dict(session.resource_opts) == {
        "shmem": "2g", "disk": "20g", "device_model": H100.model
    }  # fmt: skip
    assert dict(session.env) == {"A": "1"}
    assert [(p.number, p.protocol) for p in session.ports] == [
        (8080, PortProtocol.HTTP), (9000, PortProtocol.TCP)
    ]  # fmt: skip
    cpu_only = session_spec(PodSpec(image="python:3", resource=ResourceKind.CPU, gpu_count=0))
    assert "cuda.device" not in cpu_only.resources
