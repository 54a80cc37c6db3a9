"""Spec validation and exit classification."""

from __future__ import annotations

from pathlib import Path

import pytest

from hangar.agent.errors import InvalidKernelSpec
from hangar.agent.runtimes.base import BindMount, KernelSpec, ResourceLimits, TerminationReason
from hangar.agent.runtimes.process import exit_status, shell_exit_code

SCRATCH = Path("/data/scratch/k1")


@pytest.mark.parametrize("kernel_id", ["", "../x", "a/b", ".hidden", "x" * 129, "k 1"])
def test_kernel_id_must_be_a_safe_name(kernel_id: str) -> None:
    with pytest.raises(InvalidKernelSpec):
        KernelSpec(kernel_id, SCRATCH)


@pytest.mark.parametrize(
    "changes",
    [
        {"scratch_dir": Path("relative/k1")},
        {"scratch_dir": Path("/")},
        {"scratch_dir": Path("/k1")},
        {"uid": 0},
        {"gid": 0},
        {"environ": {"BAD-NAME": "x"}},
        {"environ": {"OK": "nul\0byte"}},
    ],
)
def test_invalid_specs_are_refused(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {"kernel_id": "k1", "scratch_dir": SCRATCH, **changes}
    with pytest.raises(InvalidKernelSpec):
        KernelSpec(**fields)  # type: ignore[arg-type]


def test_environ_is_copied_and_frozen() -> None:
    env = {"A": "1"}
    spec = KernelSpec("k1", SCRATCH, environ=env)
    env["A"] = "2"
    assert spec.environ["A"] == "1"
    with pytest.raises(TypeError):
        spec.environ["B"] = "3"  # type: ignore[index]


@pytest.mark.parametrize("field", ["cpu", "memory_bytes", "pids_max"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(InvalidKernelSpec):
        ResourceLimits(**{field: 0})


def test_bind_targets() -> None:
    assert BindMount(Path("/srv/v1"), "data").target == "/home/work/data"
    assert BindMount(Path("/srv/v1"), "/opt/data").target == "/opt/data"
    for bad in ["", "../escape", "/", "/home/work", "a/../../b"]:
        with pytest.raises(InvalidKernelSpec):
            BindMount(Path("/srv/v1"), bad)
    with pytest.raises(InvalidKernelSpec):
        BindMount(Path("relative"), "data")


@pytest.mark.parametrize(("returncode", "code"), [(0, 0), (3, 3), (-9, 137), (-15, 143)])
def test_shell_exit_codes(returncode: int, code: int) -> None:
    assert shell_exit_code(returncode) == code


@pytest.mark.parametrize(
    ("code", "forced", "oom", "reason", "words"),
    [
        (0, None, False, TerminationReason.EXITED, "exited with code 0"),
        (137, None, True, TerminationReason.MEMORY_LIMIT, "memory limit exceeded"),
        (1, None, True, TerminationReason.EXITED, "code 1"),  # OOM elsewhere, not this one
        (137, TerminationReason.TIMED_OUT, True, TerminationReason.TIMED_OUT, "2.5 s"),
        (137, TerminationReason.KILLED, False, TerminationReason.KILLED, "on request"),
    ],
)
def test_exit_classification(
    code: int, forced: TerminationReason | None, oom: bool, reason: TerminationReason, words: str
) -> None:
    status = exit_status(code, forced, timeout=2.5, oom_killed=oom, memory_limit=64 << 20)
    assert (status.exit_code, status.reason) == (code, reason)
    assert words in status.message
