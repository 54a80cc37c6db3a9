"""The hand-assembled seccomp program: bytes, jump targets and verdicts per arch and flags."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.agent.runtimes.seccomp import (
    AUDIT_ARCH,
    BPF_JA,
    BPF_JEQ_K,
    BPF_JSET_K,
    BPF_LD_W_ABS,
    CLONE_NAMESPACES,
    CLONE_NEWTIME,
    DEFAULT_BLOCKED,
    ENOSYS,
    EPERM,
    NAMESPACE_FLAGS,
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
NOSYS = RET_ERRNO | ENOSYS
PROGRAM = build_program()
ARCHES = sorted(AUDIT_ARCH)
# Flags glibc passes for a thread, fork() and posix_spawn's vfork.
THREAD = 0x003D0F00
FORK = 0x01200011
VFORK = 0x00004111
NAMESPACE_BITS = [1 << bit for bit in range(32) if CLONE_NAMESPACES & (1 << bit)]


def verdict(arch: str, name: str, *args: int) -> int:
    return evaluate(PROGRAM, AUDIT_ARCH[arch], SYSCALLS[arch][name], args)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(
    "name",
    ["ptrace", "process_vm_readv", "setns", "mount", "umount2", "pivot_root", "keyctl",
     "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
     "io_uring_enter", "io_uring_register", "kexec_load", "init_module", "finit_module",
     "delete_module", "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff",
     "reboot", "acct", "quotactl", "fsopen", "fsmount", "move_mount", "open_tree"],
)  # fmt: skip
def test_dangerous_calls_get_eperm_on_every_arch(arch: str, name: str) -> None:
    assert verdict(arch, name) == DENY


@pytest.mark.parametrize("arch", ARCHES)
def test_clone3_answers_enosys_so_glibc_falls_back_to_clone(arch: str) -> None:
    assert verdict(arch, "clone3") == NOSYS


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("flags", [THREAD, FORK, VFORK, 0])
def test_threads_and_forks_are_allowed(arch: str, flags: int) -> None:
    assert verdict(arch, "clone", flags) == RET_ALLOW


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("bit", NAMESPACE_BITS)
def test_a_namespace_flag_denies_clone_and_unshare(arch: str, bit: int) -> None:
    assert verdict(arch, "clone", FORK | bit) == DENY
    assert verdict(arch, "unshare", bit) == DENY


@pytest.mark.parametrize("arch", ARCHES)
def test_unshare_without_namespaces_is_allowed(arch: str) -> None:
    assert verdict(arch, "unshare", 0x00000600) == RET_ALLOW  # CLONE_FS | CLONE_FILES
    assert verdict(arch, "unshare", CLONE_NEWTIME) == DENY
    # In clone's flags that bit is part of the exit signal (SIGCHLD is 17 = 0x11).
    assert verdict(arch, "clone", 0x80 | 0x11) == RET_ALLOW


def test_only_the_flags_argument_counts() -> None:
    """The low word holds every namespace flag (the kernel reads only it for clone and
    refuses high bits in unshare); other arguments do not change the verdict."""
    assert verdict("x86_64", "clone", FORK, 0x10000000) == RET_ALLOW
    assert verdict("x86_64", "clone", (0xFFFF << 32) | FORK) == RET_ALLOW
    assert verdict("x86_64", "unshare", (1 << 40) | 0x10000000) == DENY


def test_other_calls_are_allowed() -> None:
    # 26 is msync on x86_64 and 101 is ptrace only on x86_64: numbers are per arch.
    for arch, nr in [("x86_64", 0), ("x86_64", 57), ("x86_64", 26), ("aarch64", 101)]:
        assert evaluate(PROGRAM, AUDIT_ARCH[arch], nr) == RET_ALLOW


def test_every_x32_syscall_is_denied() -> None:
    assert evaluate(PROGRAM, AUDIT_ARCH["x86_64"], X32_SYSCALL_BIT | 521) == DENY
    assert evaluate(PROGRAM, AUDIT_ARCH["x86_64"], X32_SYSCALL_BIT | 0) == DENY


def test_unknown_arch_kills_the_process() -> None:
    assert evaluate(PROGRAM, 0xC00000F3, 117) == RET_KILL_PROCESS  # riscv64


def expected(arch: str, nr: int, flags: int) -> int:
    """The policy, written independently of the program."""
    names = {number: name for name, number in SYSCALLS[arch].items()}
    name = names.get(nr)
    if name in DEFAULT_BLOCKED:
        return DENY
    if name == "clone3":
        return NOSYS
    if name in NAMESPACE_FLAGS:
        return DENY if flags & NAMESPACE_FLAGS[name] else RET_ALLOW
    return RET_ALLOW


@given(
    arch=st.sampled_from(ARCHES),
    nr=st.one_of(st.integers(0, 500), st.sampled_from([56, 120, 220, 272, 310, 337, 97, 435])),
    flags=st.one_of(
        st.integers(0, 2**64 - 1), st.sampled_from([THREAD, FORK, VFORK, *NAMESPACE_BITS])
    ),
)
def test_verdict_matches_the_policy(arch: str, nr: int, flags: int) -> None:
    got = evaluate(PROGRAM, AUDIT_ARCH[arch], nr, (flags, flags))
    assert got == expected(arch, nr, flags & 0xFFFFFFFF)


def test_jumps_stay_inside_the_program() -> None:
    for pc, insn in enumerate(PROGRAM):
        if insn.code in (BPF_JEQ_K, BPF_JSET_K):
            assert pc + 1 + insn.jt < len(PROGRAM)
            assert pc + 1 + insn.jf < len(PROGRAM)
        elif insn.code == BPF_JA:
            assert pc + 1 + insn.k < len(PROGRAM)


def test_flags_are_read_from_the_low_word_in_host_byte_order() -> None:
    loads = {i.k for i in build_program(byteorder="little") if i.code == BPF_LD_W_ABS}
    assert loads == {0, 4, 16}  # nr, arch, args[0] low word
    loads = {i.k for i in build_program(byteorder="big") if i.code == BPF_LD_W_ABS}
    assert loads == {0, 4, 20}


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
