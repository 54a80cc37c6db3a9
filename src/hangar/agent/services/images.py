"""Service apps in container images: the host's sshd and the web terminal's Python are not
in the image, so they run from the host tools bound into its sandbox (see
:mod:`hangar.agent.runtimes.rootfs`); the shell is the image's; Jupyter runs where the
image's own Python has the notebook server."""

from __future__ import annotations

from hangar.agent.images import facts
from hangar.agent.runtimes.base import KernelSpec
from hangar.agent.runtimes.rootfs import host_python_argv, host_tool_argv, kernel_shell


def host_program(spec: KernelSpec, program: str) -> list[str]:
    """How the kernel starts the host's ``program``."""
    return host_tool_argv(program) if spec.image.rootfs is not None else [program]


def service_python(spec: KernelSpec, python: str) -> list[str]:
    """The Python the web terminal runs on: the host's (brought in for an image)."""
    if spec.image.rootfs is None:
        return [python]
    return host_python_argv() or [python]


def shell(spec: KernelSpec) -> list[str]:
    """The kernel's interactive shell."""
    return kernel_shell(spec)


def has_jupyter(spec: KernelSpec) -> bool:
    """Whether Jupyter can run: always on the host, in an image where its Python has it."""
    rootfs = spec.image.rootfs
    if rootfs is None:
        return True
    version = facts.python_version(rootfs)
    return version is not None and facts.has_module(rootfs, version, "notebook")
