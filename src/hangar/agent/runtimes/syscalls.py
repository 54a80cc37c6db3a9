"""Syscall numbers the sandbox's seccomp filter names, per architecture.

Taken from the kernel's tables (x86_64 ``unistd_64.h``, i386 ``unistd_32.h``, aarch64 the
generic ``asm-generic/unistd.h``, arm EABI ``arch/arm/tools/syscall.tbl``). A name missing
from an architecture does not exist there (old calls such as ``umount`` or ``vm86``). Calls
added since Linux 5.1 share one number on every architecture listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Numbers shared by all four architectures (Linux >= 5.1 unified numbering).
_COMMON = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "quotactl_fd": 443,
}

_X86_64 = {
    "clone": 56, "ptrace": 101, "syslog": 103, "uselib": 134, "ustat": 136, "sysfs": 139,
    "pivot_root": 155, "_sysctl": 156, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "create_module": 174, "init_module": 175, "delete_module": 176, "get_kernel_syms": 177,
    "query_module": 178, "quotactl": 179, "nfsservctl": 180, "lookup_dcookie": 212,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
    "userfaultfd": 323,
}  # fmt: skip

_I386 = {
    "mount": 21, "umount": 22, "stime": 25, "ptrace": 26, "acct": 51, "umount2": 52,
    "ustat": 62, "settimeofday": 79, "uselib": 86, "swapon": 87, "reboot": 88, "ioperm": 101,
    "syslog": 103, "iopl": 110, "vm86old": 113, "swapoff": 115, "clone": 120,
    "create_module": 127, "init_module": 128, "delete_module": 129, "get_kernel_syms": 130,
    "quotactl": 131, "sysfs": 135, "_sysctl": 149, "vm86": 166, "query_module": 167,
    "nfsservctl": 169, "pivot_root": 217, "lookup_dcookie": 253, "clock_settime": 264,
    "kexec_load": 283, "add_key": 286, "request_key": 287, "keyctl": 288, "unshare": 310,
    "perf_event_open": 336, "name_to_handle_at": 341, "open_by_handle_at": 342,
    "clock_adjtime": 343, "setns": 346, "process_vm_readv": 347, "process_vm_writev": 348,
    "finit_module": 350, "bpf": 357, "userfaultfd": 374,
}  # fmt: skip

_AARCH64 = {
    "lookup_dcookie": 18, "umount2": 39, "mount": 40, "pivot_root": 41, "nfsservctl": 42,
    "quotactl": 60, "acct": 89, "unshare": 97, "kexec_load": 104, "init_module": 105,
    "delete_module": 106, "clock_settime": 112, "syslog": 116, "ptrace": 117, "reboot": 142,
    "settimeofday": 170, "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220,
    "swapon": 224, "swapoff": 225, "perf_event_open": 241, "name_to_handle_at": 264,
    "open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
    "kexec_file_load": 294,
}  # fmt: skip

_ARM = {
    "mount": 21, "ptrace": 26, "acct": 51, "umount2": 52, "ustat": 62, "settimeofday": 79,
    "uselib": 86, "swapon": 87, "reboot": 88, "syslog": 103, "swapoff": 115, "clone": 120,
    "init_module": 128, "delete_module": 129, "quotactl": 131, "sysfs": 135,
    "pivot_root": 218, "clock_settime": 262, "add_key": 309, "request_key": 310,
    "keyctl": 311, "unshare": 337, "kexec_load": 347, "perf_event_open": 364,
    "name_to_handle_at": 370, "open_by_handle_at": 371, "clock_adjtime": 372, "setns": 375,
    "process_vm_readv": 376, "process_vm_writev": 377, "finit_module": 379, "bpf": 386,
    "userfaultfd": 388, "kexec_file_load": 401,
}  # fmt: skip

SYSCALLS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        arch: MappingProxyType({**table, **_COMMON})
        for arch, table in (
            ("x86_64", _X86_64),
            ("i386", _I386),
            ("aarch64", _AARCH64),
            ("arm", _ARM),
        )
    }
)

# Which argument of clone(2) holds the flags: arg0 on these four (s390 would be arg1).
CLONE_FLAGS_ARG: Mapping[str, int] = MappingProxyType(
    {"x86_64": 0, "i386": 0, "aarch64": 0, "arm": 0}
)
