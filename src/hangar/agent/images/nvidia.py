"""NVIDIA GPUs in container images, as nvidia-container-toolkit provides them: the host
driver's user-space libraries and tools bound read-only into the image, the allocated
devices named in ``NVIDIA_VISIBLE_DEVICES`` (``CUDA_VISIBLE_DEVICES`` and the device nodes
come from the runtime's GPU bindings, as for host kernels).

The driver's files are bound under ``/usr/local/nvidia`` (``lib64``, ``bin``), which CUDA
images already put on ``LD_LIBRARY_PATH``; the kernel's environment adds them in front in
any case. Only kernels that were allocated GPUs get any of this.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hangar.agent.runtimes.base import BindMount, GpuBinding

LIB_DIR = "/usr/local/nvidia/lib64"
BIN_DIR = "/usr/local/nvidia/bin"
# The driver's libraries (what `nvidia-container-cli list --libraries` names for compute and
# utility) and tools.
DRIVER_LIBRARIES = (
    "libcuda.so", "libcudadebugger.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so",
    "libnvidia-nvvm.so", "libnvidia-opencl.so", "libnvidia-compiler.so",
    "libnvidia-allocator.so", "libnvidia-cfg.so", "libnvidia-gpucomp.so",
    "libnvidia-pkcs11.so",
)  # fmt: skip
DRIVER_PROGRAMS = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced",
                   "nvidia-cuda-mps-control", "nvidia-cuda-mps-server")  # fmt: skip
# Where the host's driver lives (a seam for tests: a directory of fake driver files).
LIBRARY_DIRS: tuple[str, ...] = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                                 "/usr/lib/aarch64-linux-gnu")  # fmt: skip
PROGRAM_DIRS: tuple[str, ...] = ("/usr/bin", "/usr/local/bin")


def _is_driver_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in DRIVER_LIBRARIES)


@functools.cache
def _driver_binds(
    library_dirs: tuple[str, ...], program_dirs: tuple[str, ...]
) -> tuple[BindMount, ...]:
    binds: dict[str, BindMount] = {}
    for directory in library_dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = Path(directory, name)
            if _is_driver_library(name) and path.exists() and f"{LIB_DIR}/{name}" not in binds:
                binds[f"{LIB_DIR}/{name}"] = BindMount(path.resolve(), f"{LIB_DIR}/{name}")
    for directory in program_dirs:
        for name in DRIVER_PROGRAMS:
            path = Path(directory, name)
            if path.is_file() and f"{BIN_DIR}/{name}" not in binds:
                binds[f"{BIN_DIR}/{name}"] = BindMount(path.resolve(), f"{BIN_DIR}/{name}")
    return tuple(binds.values())


def driver_binds() -> tuple[BindMount, ...]:
    """The host driver's libraries and tools, bound read-only at their image paths."""
    return _driver_binds(LIBRARY_DIRS, PROGRAM_DIRS)


def gpu_environ(gpus: Sequence[GpuBinding], image_env: Mapping[str, str]) -> dict[str, str]:
    """``NVIDIA_VISIBLE_DEVICES`` (UUIDs where known), driver capabilities, and the driver
    directories in front of the image's library and program paths."""
    if not gpus:
        return {}
    use_uuids = all(g.uuid for g in gpus)
    visible = ",".join(g.uuid if use_uuids and g.uuid else str(g.index) for g in gpus)
    libraries = [LIB_DIR, *filter(None, image_env.get("LD_LIBRARY_PATH", "").split(":"))]
    return {
        "NVIDIA_VISIBLE_DEVICES": visible,
        "NVIDIA_DRIVER_CAPABILITIES": image_env.get(
            "NVIDIA_DRIVER_CAPABILITIES", "compute,utility"
        ),  # fmt: skip
        "LD_LIBRARY_PATH": ":".join(dict.fromkeys(libraries)),
    }
