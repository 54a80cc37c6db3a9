"""A hand-assembled classic-BPF seccomp filter: deny dangerous syscalls with EPERM, allow the rest.

This is what ``bwrap --seccomp FD`` loads (an array of ``struct sock_filter``). Built here
with ``struct`` rather than libseccomp: no dependency, and the program is small enough to read
and to check instruction by instruction (see ``evaluate``). The filter checks the audit arch
first: x86_64 (also denying every x32 call), i386, aarch64 and arm each use their own syscall
numbers; any other arch kills the process, so a compat ABI can never bypass the list.

What is denied follows Docker's default profile for a container without extra capabilities:
new namespaces (``unshare`` and ``clone`` with a ``CLONE_NEW*`` flag, ``setns``), mounts,
kernel keyrings, BPF, perf events, userfaultfd, io_uring, modules, kexec, swap, reboot,
clock setting, ptrace and its cousins. Denied calls fail with EPERM so programs degrade
gracefully; ``clone3`` answers ENOSYS (its flags sit in memory a filter cannot read) so
glibc falls back to ``clone``, whose flags the filter does check.
"""

from __future__ import annotations

import platform
import struct
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from hangar.agent.runtimes.syscalls import CLONE_FLAGS_ARG, SYSCALLS

__all__ = ["SYSCALLS", "build_program", "assemble", "evaluate", "host_supported"]

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
OFFSET_NR, OFFSET_ARCH, OFFSET_ARGS = 0, 4, 16
_SECCOMP_DATA = struct.Struct("=iIQ6Q")
BPF_LD_W_ABS, BPF_JA, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x05, 0x15, 0x45, 0x06
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
EPERM, ENOSYS = 1, 38
X32_SYSCALL_BIT = 0x40000000

AUDIT_ARCH = {
    "x86_64": 0xC000003E,
    "i386": 0x40000003,
    "aarch64": 0xC00000B7,
    "arm": 0x40000028,
}

CLONE_NEWTIME = 0x00000080  # unshare only: in clone's flags this bit is the exit signal
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACES = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC
    | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)  # fmt: skip

# Denied outright (EPERM) where the arch has them. ptrace and process_vm_* are the seed's
# "jail"; the rest is the kernel surface Docker's default profile keeps from containers.
DEFAULT_BLOCKED = (
    "ptrace", "process_vm_readv", "process_vm_writev",
    "setns", "mount", "umount", "umount2", "pivot_root", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module",
    "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "nfsservctl",
    "settimeofday", "clock_settime", "clock_adjtime", "stime", "syslog",
    "uselib", "ustat", "sysfs", "_sysctl", "iopl", "ioperm", "vm86", "vm86old",
)  # fmt: skip
# Denied (EPERM) only when their flags argument asks for a new namespace.
NAMESPACE_FLAGS: Mapping[str, int] = MappingProxyType(
    {"clone": CLONE_NAMESPACES, "unshare": CLONE_NAMESPACES | CLONE_NEWTIME}
)
# Answered with ENOSYS: callers fall back to an older call the filter can inspect.
DEFAULT_ENOSYS = ("clone3",)
SUPPORTED_MACHINES = frozenset({"x86_64", "aarch64"})
_INSN = struct.Struct("=HBBI")


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``; jt/jf are relative forward jumps (BPF_JA jumps by k)."""

    code: int
    jt: int
    jf: int
    k: int


@dataclass(frozen=True, slots=True)
class _Jump:
    """A conditional jump to ``target`` when true (falls through when false), or an
    unconditional one (``code`` BPF_JA); resolved by :func:`_link`."""

    code: int
    k: int
    target: str


_Item = Insn | _Jump | str  # a str is a label for the next instruction


def _flags_offset(arg: int, byteorder: str) -> int:
    """Offset of the low 32 bits of ``args[arg]`` (the namespace flags all live there)."""
    return OFFSET_ARGS + 8 * arg + (4 if byteorder == "big" else 0)


def _arch_section(
    arch: str,
    blocked: Sequence[str],
    enosys: Sequence[str],
    flags: Mapping[str, int],
    byteorder: str,
) -> list[_Item]:
    """Load nr; jump to this section's deny, ENOSYS or flag checks; else allow."""
    table = SYSCALLS[arch]
    deny, nosys = f"{arch}:deny", f"{arch}:enosys"
    items: list[_Item] = [arch, Insn(BPF_LD_W_ABS, 0, 0, OFFSET_NR)]
    if arch == "x86_64":
        items.append(_Jump(BPF_JSET_K, X32_SYSCALL_BIT, deny))
    items += [_Jump(BPF_JEQ_K, table[name], deny) for name in blocked if name in table]
    items += [_Jump(BPF_JEQ_K, table[name], nosys) for name in enosys if name in table]
    checked = [name for name in flags if name in table]
    items += [_Jump(BPF_JEQ_K, table[name], f"{arch}:{name}") for name in checked]
    items.append(Insn(BPF_RET_K, 0, 0, RET_ALLOW))
    for name in checked:
        arg = CLONE_FLAGS_ARG[arch] if name == "clone" else 0
        items += [f"{arch}:{name}", Insn(BPF_LD_W_ABS, 0, 0, _flags_offset(arg, byteorder))]
        items += [_Jump(BPF_JSET_K, flags[name], deny), Insn(BPF_RET_K, 0, 0, RET_ALLOW)]
    items += [nosys, Insn(BPF_RET_K, 0, 0, RET_ERRNO | ENOSYS)]
    return [*items, deny, Insn(BPF_RET_K, 0, 0, RET_ERRNO | EPERM)]


def _link(items: Iterable[_Item]) -> list[Insn]:
    """Resolve labels into relative jumps. Raises ValueError for a backward or too-far jump."""
    items = list(items)
    labels: dict[str, int] = {}
    count = 0
    for item in items:
        if isinstance(item, str):
            labels[item] = count
        else:
            count += 1
    program: list[Insn] = []
    for item in items:
        if isinstance(item, str):
            continue
        if isinstance(item, _Jump):
            offset = labels[item.target] - len(program) - 1
            if offset < 0 or (item.code != BPF_JA and offset > 255):
                raise ValueError(f"jump to {item.target} out of range ({offset})")
            if item.code == BPF_JA:
                item = Insn(BPF_JA, 0, 0, offset)
            else:
                item = Insn(item.code, offset, 0, item.k)
        program.append(item)
    return program


def build_program(
    blocked: Iterable[str] = DEFAULT_BLOCKED,
    *,
    namespace_flags: Mapping[str, int] = NAMESPACE_FLAGS,
    enosys: Iterable[str] = DEFAULT_ENOSYS,
    byteorder: str = sys.byteorder,
) -> list[Insn]:
    """Return the filter as instructions: ``blocked`` calls get EPERM, ``enosys`` calls
    ENOSYS, the calls in ``namespace_flags`` EPERM when their flags share a bit with the
    mask. Raises KeyError for a syscall name no supported arch knows."""
    names, nosys = tuple(blocked), tuple(enosys)
    for name in (*names, *nosys, *namespace_flags):
        if not any(name in table for table in SYSCALLS.values()):
            raise KeyError(name)
    items: list[_Item] = [Insn(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH)]
    for arch in AUDIT_ARCH:  # a jeq over the next insn, else a long jump to the section
        items += [Insn(BPF_JEQ_K, 0, 1, AUDIT_ARCH[arch]), _Jump(BPF_JA, 0, arch)]
    items.append(Insn(BPF_RET_K, 0, 0, RET_KILL_PROCESS))
    for arch in AUDIT_ARCH:
        items += _arch_section(arch, names, nosys, namespace_flags, byteorder)
    return _link(items)


def assemble(program: Iterable[Insn]) -> bytes:
    """Return the program as the bytes ``bwrap --seccomp`` reads (native byte order)."""
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in program)


def evaluate(program: list[Insn], arch: int, nr: int, args: Sequence[int] = ()) -> int:
    """Run the filter on one syscall, as the kernel would; returns the SECCOMP_RET value.

    ``args`` are the syscall's arguments (missing ones are 0). Understands only the
    instructions ``build_program`` emits; for tests and debugging.
    """
    padded = [a & 0xFFFFFFFFFFFFFFFF for a in (*args, 0, 0, 0, 0, 0, 0)[:6]]
    data = _SECCOMP_DATA.pack(nr if nr < 2**31 else nr - 2**32, arch, 0, *padded)
    accumulator, pc = 0, 0
    while True:
        insn = program[pc]
        if insn.code == BPF_LD_W_ABS:
            (accumulator,) = struct.unpack_from("=I", data, insn.k)
        elif insn.code == BPF_RET_K:
            return insn.k
        elif insn.code == BPF_JA:
            pc += insn.k
        elif insn.code in (BPF_JEQ_K, BPF_JSET_K):
            hit = accumulator == insn.k if insn.code == BPF_JEQ_K else bool(accumulator & insn.k)
            pc += insn.jt if hit else insn.jf
        else:
            raise ValueError(f"unexpected opcode {insn.code:#x}")
        pc += 1


def host_supported(machine: str | None = None) -> bool:
    """True where the filter knows the host's syscall numbers (x86_64, aarch64)."""
    return (machine or platform.machine()) in SUPPORTED_MACHINES
