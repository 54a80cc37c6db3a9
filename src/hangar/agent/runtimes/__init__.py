"""Runtimes: where kernels run. ``base`` is the interface, ``bubblewrap`` the local sandbox,
``fake`` the same contract without isolation for tests."""

from hangar.agent.runtimes.base import (
    BindMount,
    ExitStatus,
    GpuBinding,
    ImageSpec,
    KernelInfo,
    KernelRuntime,
    KernelSpec,
    LimitMode,
    ResourceLimits,
    RunningProcess,
    SandboxCommand,
    TerminationReason,
)

__all__ = [
    "BindMount",
    "ExitStatus",
    "GpuBinding",
    "ImageSpec",
    "KernelInfo",
    "KernelRuntime",
    "KernelSpec",
    "LimitMode",
    "ResourceLimits",
    "RunningProcess",
    "SandboxCommand",
    "TerminationReason",
]
