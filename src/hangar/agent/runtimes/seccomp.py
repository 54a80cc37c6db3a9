"""A hand-assembled classic-BPF seccomp filter: deny a few syscalls with EPERM, allow the rest.

This is what ``bwrap --seccomp FD`` loads (an array of ``struct sock_filter``). Built here
with ``struct`` rather than libseccomp: no dependency, and the program is small enough to read
and to check instruction by instruction (see ``evaluate``). The filter checks the audit arch
first: x86_64 (also denying every x32 call), i386, aarch64 and arm each use their own syscall
numbers; any other arch kills the process, so a compat ABI can never bypass the list.
"""

from __future__ import annotations

import platform
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
OFFSET_NR, OFFSET_ARCH = 0, 4
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x06
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
EPERM = 1
X32_SYSCALL_BIT = 0x40000000

AUDIT_ARCH = {
    "x86_64": 0xC000003E,
    "i386": 0x40000003,
    "aarch64": 0xC00000B7,
    "arm": 0x40000028,
}
SYSCALLS: Mapping[str, Mapping[str, int]] = {
    "x86_64": {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311},
    "i386": {"ptrace": 26, "process_vm_readv": 347, "process_vm_writev": 348},
    "aarch64": {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271},
    "arm": {"ptrace": 26, "process_vm_readv": 376, "process_vm_writev": 377},
}
# ptrace and its read/write-another-process's-memory cousins: the "jail" of the seed.
DEFAULT_BLOCKED = ("ptrace", "process_vm_readv", "process_vm_writev")
SUPPORTED_MACHINES = frozenset({"x86_64", "aarch64"})
_INSN = struct.Struct("=HBBI")


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``; jt/jf are relative forward jumps."""

    code: int
    jt: int
    jf: int
    k: int


def _arch_section(arch: str, blocked: Iterable[str], deny_at: int, start: int) -> list[Insn]:
    """Load nr; jump to the shared deny for each blocked number; else allow."""
    numbers = [SYSCALLS[arch][name] for name in blocked]
    body = [Insn(BPF_LD_W_ABS, 0, 0, OFFSET_NR)]
    if arch == "x86_64":
        body.append(Insn(BPF_JSET_K, 0, 0, X32_SYSCALL_BIT))  # jt patched below
    body.extend(Insn(BPF_JEQ_K, 0, 0, number) for number in numbers)
    body.append(Insn(BPF_RET_K, 0, 0, RET_ALLOW))
    return [
        Insn(insn.code, deny_at - (start + i) - 1, 0, insn.k)
        if insn.code in (BPF_JEQ_K, BPF_JSET_K)
        else insn
        for i, insn in enumerate(body)
    ]


def build_program(blocked: Iterable[str] = DEFAULT_BLOCKED) -> list[Insn]:
    """Return the filter as instructions. Raises KeyError for a syscall we have no number for."""
    names = tuple(blocked)
    for arch in SYSCALLS:
        for name in names:
            SYSCALLS[arch][name]  # noqa: B018 - fail early on unknown names
    arches = list(AUDIT_ARCH)
    sections_len = {a: 2 + len(names) + (1 if a == "x86_64" else 0) for a in arches}
    dispatch_len = 1 + len(arches) + 1  # load arch, one jeq per arch, kill
    deny_at = dispatch_len + sum(sections_len.values())
    program = [Insn(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH)]
    start = dispatch_len
    for i, arch in enumerate(arches):
        here = 1 + i
        program.append(Insn(BPF_JEQ_K, start - here - 1, 0, AUDIT_ARCH[arch]))
        start += sections_len[arch]
    program.append(Insn(BPF_RET_K, 0, 0, RET_KILL_PROCESS))
    for arch in arches:
        program.extend(_arch_section(arch, names, deny_at, len(program)))
    program.append(Insn(BPF_RET_K, 0, 0, RET_ERRNO | EPERM))
    assert len(program) == deny_at + 1
    return program


def assemble(program: Iterable[Insn]) -> bytes:
    """Return the program as the bytes ``bwrap --seccomp`` reads (native byte order)."""
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)


def evaluate(program: list[Insn], arch: int, nr: int) -> int:
    """Run the filter on one syscall, as the kernel would; returns the SECCOMP_RET value.

    Understands only the instructions ``build_program`` emits; for tests and debugging.
    """
    data = {OFFSET_NR: nr & 0xFFFFFFFF, OFFSET_ARCH: arch}
    accumulator, pc = 0, 0
    while True:
        insn = program[pc]
        if insn.code == BPF_LD_W_ABS:
            accumulator = data[insn.k]
        elif insn.code == BPF_RET_K:
            return insn.k
        elif insn.code in (BPF_JEQ_K, BPF_JSET_K):
            hit = accumulator == insn.k if insn.code == BPF_JEQ_K else bool(accumulator & insn.k)
            pc += insn.jt if hit else insn.jf
        else:
            raise ValueError(f"unexpected opcode {insn.code:#x}")
        pc += 1


def host_supported(machine: str | None = None) -> bool:
    """True where the filter knows the host's syscall numbers (x86_64, aarch64)."""
    return (machine or platform.machine()) in SUPPORTED_MACHINES
