"""From a :class:`~hangar.agent.models.KernelRequest` to the runtime's KernelSpec.

Where the image has no prefix of its own (the host system), ``python`` must still mean the
image's interpreter (Debian has no /usr/bin/python): a per-kernel *shim prefix* holding
``bin/python`` and ``bin/python3`` links to the interpreter serves as the interpreter prefix,
so the runtime binds it read-only and puts its ``bin`` first on PATH. Shims live beside the
scratch dirs (``<scratch_root>/.hangar-shims/<kernel_id>``), hidden like them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hangar.agent.errors import InvalidKernelSpec
from hangar.agent.images import facts
from hangar.agent.images.nvidia import BIN_DIR, driver_binds, gpu_environ
from hangar.agent.images.runner import runner_mounts
from hangar.agent.images.store import StoredImage
from hangar.agent.models import KernelRequest
from hangar.agent.node_errors import InvalidKernelRequest
from hangar.agent.resources.devices import AcceleratorDevice
from hangar.agent.runtimes.base import (
    DEFAULT_PATH,
    BindMount,
    GpuBinding,
    ImageSpec,
    KernelSpec,
    ResourceLimits,
)
from hangar.agent.runtimes.scratch import remove_tree

RUNTIME_TYPE_LABEL = "ai.backend.runtime-type"
SHIMS_DIR = ".hangar-shims"
SHIM_NAMES = ("python", "python3")


def is_python_image(request: KernelRequest) -> bool:
    """A Python image: labelled so, or unlabelled with a ``python*`` interpreter."""
    label = request.image_labels.get(RUNTIME_TYPE_LABEL)
    if label is not None:
        return label.startswith("python")
    return os.path.basename(request.interpreter).startswith("python")


def shim_dir(scratch_root: Path, kernel_id: str) -> Path:
    """Where the kernel's shim prefix lives on the host."""
    return scratch_root / SHIMS_DIR / kernel_id


def prepare_shim(path: Path, interpreter: str) -> None:
    """Create (or refresh) the shim prefix ``path`` whose ``bin/python*`` link to
    ``interpreter``. Raises OSError."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    (path / "bin").mkdir(mode=0o755, parents=True, exist_ok=True)
    path.chmod(0o755)
    for name in SHIM_NAMES:
        link = path / "bin" / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(interpreter)


def remove_shim(path: Path) -> None:
    """Delete the shim prefix. Idempotent."""
    remove_tree(path)


def _search_path(request: KernelRequest, prefix: Path, base_env: Mapping[str, str]) -> str:
    base = request.environ.get("PATH", base_env.get("PATH", DEFAULT_PATH))
    wanted = [str(prefix / "bin"), os.path.dirname(request.interpreter), *base.split(":")]
    seen: list[str] = []
    for entry in wanted:
        if entry and entry not in seen:
            seen.append(entry)
    return ":".join(seen)


def kernel_environ(
    request: KernelRequest, prefix: Path, image_env: Sequence[str] = ()
) -> dict[str, str]:
    """The image config's Env, the request's environment, the Backend.AI session variables
    and PATH (the interpreter's directories first). CUDA variables come from the runtime's
    GPU bindings."""
    kernel_id = str(request.kernel_id)
    base_env = dict(item.partition("=")[::2] for item in image_env if "=" in item)
    env = {**base_env, **request.environ}
    env.setdefault("OMP_NUM_THREADS", str(max(1, int(request.cpu))))
    env.setdefault("PYTHONUNBUFFERED", "1")  # batch output should stream, not arrive at exit
    env.update(
        PATH=_search_path(request, prefix, base_env),
        BACKENDAI_KERNEL_ID=kernel_id,
        BACKENDAI_SESSION_ID=kernel_id,
        BACKENDAI_SESSION_NAME=request.session_name,
        BACKENDAI_CLUSTER_ROLE="main",
        BACKENDAI_CLUSTER_IDX="1",
        BACKENDAI_CLUSTER_SIZE="1",
        BACKENDAI_CLUSTER_HOST="main1",
    )
    return env


def device_id(device: AcceleratorDevice) -> str:
    """The id the node reports for ``device`` (its UUID, stable across reboots)."""
    return device.uuid


def gpu_bindings(
    request: KernelRequest, devices: Sequence[AcceleratorDevice]
) -> tuple[GpuBinding, ...]:
    """Bindings for ``gpu_devices`` and the devices in ``gpu_shares`` (fractions cannot be
    enforced: the whole device is shown). Ids may be UUIDs or NVML indices.

    Raises InvalidKernelRequest for ids this node does not have.
    """
    by_id: Mapping[str, AcceleratorDevice] = {
        **{str(d.index): d for d in devices},
        **{device_id(d): d for d in devices},
    }
    wanted = [*request.gpu_devices, *(k for k, v in request.gpu_shares.items() if v > 0)]
    chosen: dict[int, GpuBinding] = {}
    for ident in wanted:
        device = by_id.get(ident)
        if device is None:
            raise InvalidKernelRequest(f"no GPU device {ident!r} on this node")
        chosen[device.index] = GpuBinding(device.index, device.uuid, device.device_node)
    return tuple(chosen[index] for index in sorted(chosen))


def build_spec(
    request: KernelRequest,
    *,
    scratch_root: Path,
    uid: int,
    gid: int,
    devices: Sequence[AcceleratorDevice],
    pids_max: int,
    image: StoredImage | None = None,
) -> KernelSpec:
    """The runtime spec for ``request`` (bootstrap excluded: the node runs it itself);
    ``image`` is the stored container image the request names, if any.

    Raises InvalidKernelRequest.
    """
    if request.image is not None and image is None:
        raise InvalidKernelRequest(f"image {request.image.reference} is not on this node")
    kernel_id = str(request.kernel_id)
    for mount in request.mounts:
        if not mount.host_path.is_dir():
            raise InvalidKernelRequest(
                f"The folder for {mount.target} is not at {mount.host_path} on this agent: an "
                "agent must see the storage host's directory at the manager's path (a shared "
                "filesystem mounted at the same place)."
            )
    prefix = request.interpreter_prefix or shim_dir(scratch_root, kernel_id)
    cpu = float(request.cpu) if request.cpu > 0 else None
    memory = request.memory_bytes if request.memory_bytes > 0 else None
    image_name = "host" if request.interpreter_prefix is None else "prefix"
    gpus = gpu_bindings(request, devices)
    environ = kernel_environ(request, prefix, image.config.env if image else ())
    driver: tuple[BindMount, ...] = ()
    if image is not None and gpus:  # the host driver's files, as nvidia-container-toolkit
        environ.update(gpu_environ(gpus, environ), PATH=f"{environ['PATH']}:{BIN_DIR}")
        driver = driver_binds()
    if image is not None:  # query mode's kernel runner, where the image needs it
        driver += runner_mounts(image.rootfs)
    try:
        return KernelSpec(
            kernel_id=kernel_id,
            scratch_dir=scratch_root / kernel_id,
            uid=uid,
            gid=gid,
            environ=environ,
            limits=ResourceLimits(
                cpu=cpu,
                memory_bytes=memory,
                pids_max=pids_max,
                shmem_bytes=request.shmem_bytes,
                disk_bytes=request.disk_bytes,
            ),
            gpus=gpus,
            image=ImageSpec(name=image_name, interpreter_prefix=prefix)
            if image is None
            else ImageSpec(
                image.reference,
                prefix,
                driver,
                rootfs=image.rootfs,
                user=image.config.user,
                user_ids=facts.user_ids(image.rootfs, image.config.user),
            ),
            mounts=tuple(BindMount(m.host_path, m.target, m.read_only) for m in request.mounts),
        )
    except InvalidKernelSpec as exc:
        raise InvalidKernelRequest(str(exc)) from exc
