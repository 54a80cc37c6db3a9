"""The hand-assembled seccomp program: bytes, jump targets and verdicts per arch."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.agent.runtimes.seccomp import (
    AUDIT_ARCH,
    BPF_JEQ_K,
    BPF_JSET_K,
    DEFAULT_BLOCKED,
    EPERM,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    SYSCALLS,
    X32_SYSCALL_BIT,
    assemble,
    build_program,
    evaluate,
    host_supported,
)

DENY = RET_ERRNO | EPERM
PROGRAM = build_program()


@pytest.mark.parametrize(
    ("arch", "nr"),
    [
        ("x86_64", 101),
        ("x86_64", 310),
        ("x86_64", 311),
        ("i386", 26),
        ("i386", 347),
        ("aarch64", 117),
        ("aarch64", 270),
        ("arm", 26),
        ("arm", 377),
    ],
)
def test_blocked_syscalls_get_eperm(arch: str, nr: int) -> None:
    assert evaluate(PROGRAM, AUDIT_ARCH[arch], nr) == DENY


@pytest.mark.parametrize(
    ("arch", "nr"),
    [("x86_64", 0), ("x86_64", 57), ("x86_64", 26), ("i386", 101), ("aarch64", 101)],
)
def test_other_syscalls_are_allowed(arch: str, nr: int) -> None:
    # 26 is msync on x86_64 and 101 is ptrace only on x86_64: numbers are per arch.
    assert evaluate(PROGRAM, AUDIT_ARCH[arch], nr) == RET_ALLOW


def test_every_x32_syscall_is_denied() -> None:
    assert evaluate(PROGRAM, AUDIT_ARCH["x86_64"], X32_SYSCALL_BIT | 521) == DENY
    assert evaluate(PROGRAM, AUDIT_ARCH["x86_64"], X32_SYSCALL_BIT | 0) == DENY


def test_unknown_arch_kills_the_process() -> None:
    assert evaluate(PROGRAM, 0xC00000F3, 117) == RET_KILL_PROCESS  # riscv64


@given(arch=st.sampled_from(sorted(AUDIT_ARCH)), nr=st.integers(0, X32_SYSCALL_BIT - 1))
def test_verdict_matches_the_table(arch: str, nr: int) -> None:
    blocked = {SYSCALLS[arch][name] for name in DEFAULT_BLOCKED}
    expected = DENY if nr in blocked else RET_ALLOW
    assert evaluate(PROGRAM, AUDIT_ARCH[arch], nr) == expected


def test_jumps_stay_inside_the_program() -> None:
    for pc, insn in enumerate(PROGRAM):
        if insn.code in (BPF_JEQ_K, BPF_JSET_K):
            assert pc + 1 + insn.jt < len(PROGRAM)
            assert pc + 1 + insn.jf < len(PROGRAM)


def test_assembled_bytes_are_sock_filter_structs() -> None:
    data = assemble(PROGRAM)
    assert len(data) == 8 * len(PROGRAM)
    # First instruction: BPF_LD|BPF_W|BPF_ABS of seccomp_data.arch (offset 4).
    assert struct.unpack("=HBBI", data[:8]) == (0x20, 0, 0, 4)
    assert struct.unpack("=HBBI", data[-8:]) == (0x06, 0, 0, DENY)


def test_blocking_only_ptrace_shrinks_the_program() -> None:
    program = build_program(["ptrace"])
    assert len(program) < len(PROGRAM)
    assert evaluate(program, AUDIT_ARCH["x86_64"], 101) == DENY
    assert evaluate(program, AUDIT_ARCH["x86_64"], 310) == RET_ALLOW


def test_unknown_syscall_name_is_refused() -> None:
    with pytest.raises(KeyError):
        build_program(["no_such_call"])


def test_host_support_is_by_machine_name() -> None:
    assert host_supported("x86_64") and host_supported("aarch64")
    assert not host_supported("riscv64")
