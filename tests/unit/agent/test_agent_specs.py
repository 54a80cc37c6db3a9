"""From a KernelRequest to a KernelSpec: environment, PATH, limits, GPUs, shim prefix."""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from hangar.agent.models import KernelRequest
from hangar.agent.node_errors import InvalidKernelRequest
from hangar.agent.resources.devices import AcceleratorDevice
from hangar.agent.specs import (
    RUNTIME_TYPE_LABEL,
    build_spec,
    is_python_image,
    prepare_shim,
    remove_shim,
    shim_dir,
)

ROOT = Path("/data/scratch")
KERNEL = uuid.UUID("12345678-1234-5678-1234-567812345678")
GPUS = (
    AcceleratorDevice("cuda", 0, "GPU-aaa", "A100", 80 << 30, 1.0, "/dev/nvidia0"),
    AcceleratorDevice("cuda", 1, "GPU-bbb", "A100", 80 << 30, 1.0, "/dev/nvidia1"),
)


def spec_for(**fields: object):  # type: ignore[no-untyped-def]
    request = KernelRequest(KERNEL, "sess", **fields)  # type: ignore[arg-type]
    return build_spec(request, scratch_root=ROOT, uid=1000, gid=1000, devices=GPUS, pids_max=512)


def test_scratch_limits_and_ids() -> None:
    spec = spec_for(cpu=Decimal("1.5"), memory_bytes=1 << 30)
    assert spec.kernel_id == str(KERNEL)
    assert spec.scratch_dir == ROOT / str(KERNEL)
    assert (spec.limits.cpu, spec.limits.memory_bytes, spec.limits.pids_max) == (1.5, 1 << 30, 512)
    assert spec.image.bootstrap is None  # the node runs it itself


def test_session_variables_and_user_environment() -> None:
    spec = spec_for(environ={"FOO": "bar", "BACKENDAI_SESSION_NAME": "spoofed"})
    env = spec.environ
    assert env["FOO"] == "bar"
    assert env["BACKENDAI_SESSION_NAME"] == "sess"
    assert env["BACKENDAI_SESSION_ID"] == env["BACKENDAI_KERNEL_ID"] == str(KERNEL)
    assert env["BACKENDAI_CLUSTER_ROLE"] == "main"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_host_image_gets_a_shim_prefix_first_on_path() -> None:
    spec = spec_for(interpreter="/opt/py/bin/python3.12")
    shim = shim_dir(ROOT, str(KERNEL))
    assert spec.image.interpreter_prefix == shim
    path = spec.environ["PATH"].split(":")
    assert path[:2] == [f"{shim}/bin", "/opt/py/bin"]
    assert "/usr/bin" in path and len(path) == len(set(path))


def test_prefix_image_keeps_its_prefix() -> None:
    spec = spec_for(interpreter="/envs/ml/bin/python", interpreter_prefix=Path("/envs/ml"))
    assert spec.image.interpreter_prefix == Path("/envs/ml")
    assert spec.environ["PATH"].startswith("/envs/ml/bin:")


def test_gpus_by_uuid_or_index_and_shares() -> None:
    spec = spec_for(gpu_devices=("GPU-bbb",), gpu_shares={"0": Decimal("0.5")})
    assert [(g.index, g.uuid, g.device_node) for g in spec.gpus] == [
        (0, "GPU-aaa", "/dev/nvidia0"),
        (1, "GPU-bbb", "/dev/nvidia1"),
    ]


def test_unknown_gpu_is_refused() -> None:
    with pytest.raises(InvalidKernelRequest, match="no GPU device 'GPU-zzz'"):
        spec_for(gpu_devices=("GPU-zzz",))


def test_bad_environment_name_is_refused() -> None:
    with pytest.raises(InvalidKernelRequest):
        spec_for(environ={"BAD-NAME": "x"})


@pytest.mark.parametrize(
    ("labels", "interpreter", "python"),
    [
        ({}, "/usr/bin/python3", True),
        ({}, "/usr/bin/node", False),
        ({RUNTIME_TYPE_LABEL: "python"}, "/usr/bin/whatever", True),
        ({RUNTIME_TYPE_LABEL: "app"}, "/usr/bin/python3", False),
    ],
)
def test_python_images(labels: dict[str, str], interpreter: str, python: bool) -> None:
    request = KernelRequest(KERNEL, "s", interpreter=interpreter, image_labels=labels)
    assert is_python_image(request) is python


def test_shim_links_python_to_the_interpreter(tmp_path: Path) -> None:
    shim = shim_dir(tmp_path, "k1")
    prepare_shim(shim, "/usr/bin/python3")
    prepare_shim(shim, "/usr/bin/python3.11")  # refreshed, not an error
    assert os.readlink(shim / "bin" / "python") == "/usr/bin/python3.11"
    assert os.readlink(shim / "bin" / "python3") == "/usr/bin/python3.11"
    remove_shim(shim)
    remove_shim(shim)
    assert not shim.exists()


def test_a_mount_the_agent_cannot_see_is_refused_with_the_reason(tmp_path: Path) -> None:
    from hangar.agent.models import MountRequest

    here = tmp_path / "folder"
    here.mkdir()
    spec = spec_for(mounts=(MountRequest(here, "/home/work/data", read_only=True),))
    assert [m.host_path for m in spec.mounts] == [here]
    missing = MountRequest(tmp_path / "elsewhere", "/home/work/data", read_only=True)
    with pytest.raises(InvalidKernelRequest, match="shared filesystem"):
        spec_for(mounts=(missing,))
