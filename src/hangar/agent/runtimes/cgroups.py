"""Per-kernel cgroups (v1 or v2): create with limits, join, read usage, kill, remove.

Kernel cgroups live under ``<agent's own cgroup>/<parent>/<kernel id>`` per controller, so a
limit put on the agent also bounds its kernels; an absolute ``parent`` is taken from the
hierarchy root instead (a subtree delegated to the agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.cgroupfs import CgroupLayout, CgroupVersion, read_keyed, read_text
from hangar.agent.runtimes.base import ResourceLimits

CFS_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class CgroupUsage:
    """Counters read from a kernel's cgroup (bytes, and CPU time in nanoseconds)."""

    cpu_ns: int = 0
    mem_cur: int = 0
    mem_max: int = 0
    io_read: int = 0
    io_write: int = 0


def parent_dirs(layout: CgroupLayout, parent: str) -> dict[str, Path]:
    """Where kernel cgroups go, per controller: relative ``parent`` under the agent's own
    cgroup, absolute ``parent`` under the hierarchy's mount point."""
    if parent.startswith("/"):
        return {c: layout.mountpoints[c] / parent.lstrip("/") for c in layout.dirs}
    return {c: directory / parent for c, directory in layout.dirs.items()}


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _sum_io_v1(text: str) -> tuple[int, int]:
    read = write = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2].isdigit():
            read += int(fields[2]) if fields[1] == "Read" else 0
            write += int(fields[2]) if fields[1] == "Write" else 0
    return read, write


def _sum_io_v2(text: str) -> tuple[int, int]:
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if value.isdigit():
                read += int(value) if key == "rbytes" else 0
                write += int(value) if key == "wbytes" else 0
    return read, write


@dataclass(frozen=True, slots=True)
class KernelCgroup:
    """One kernel's cgroup directories, keyed by controller."""

    version: CgroupVersion
    dirs: Mapping[str, Path]

    @property
    def procs_files(self) -> tuple[Path, ...]:
        """Each distinct directory's ``cgroup.procs`` (co-mounted v1 controllers share one)."""
        return tuple(sorted({d / "cgroup.procs" for d in self.dirs.values()}))

    def _file(self, controller: str, name: str) -> Path | None:
        directory = self.dirs.get(controller)
        return directory / name if directory is not None else None

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs.values())

    def pids(self) -> set[int]:
        """Every process in any of the kernel's directories."""
        found: set[int] = set()
        for procs in self.procs_files:
            found.update(int(p) for p in read_text(procs).split() if p.isdigit())
        return found

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup (``cgroup.kill`` where v2 has it)."""
        kill_file = self._file("memory", "cgroup.kill")
        if kill_file is not None and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def reset_counters(self) -> None:
        """Start the CPU time and the memory peak over (v1)."""
        for controller, name in (
            ("cpuacct", "cpuacct.usage"),
            ("memory", "memory.max_usage_in_bytes"),
        ):
            path = self._file(controller, name)
            if path is not None and path.exists():
                with contextlib.suppress(OSError):
                    _write(path, "0")

    def _counter(self, controller: str, name: str, key: str) -> int:
        path = self._file(controller, name)
        return read_keyed(path).get(key, 0) if path is not None else 0

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in this cgroup so far."""
        name = "memory.oom_control" if self.version is CgroupVersion.V1 else "memory.events"
        return self._counter("memory", name, "oom_kill")

    def pids_limit_hits(self) -> int:
        """How many forks ``pids.max`` has refused so far."""
        return self._counter("pids", "pids.events", "max")

    def usage(self) -> CgroupUsage:
        """Read CPU time, memory (current and peak) and block I/O; missing files read as 0."""

        def number(controller: str, name: str) -> int:
            path = self._file(controller, name)
            text = read_text(path).strip() if path is not None else ""
            return int(text) if text.isdigit() else 0

        if self.version is CgroupVersion.V1:
            cpu_ns = number("cpuacct", "cpuacct.usage")
            mem_cur = number("memory", "memory.usage_in_bytes")
            mem_max = number("memory", "memory.max_usage_in_bytes")
            io_file = self._file("blkio", "blkio.throttle.io_service_bytes_recursive")
            io = _sum_io_v1(read_text(io_file)) if io_file is not None else (0, 0)
        else:
            cpu_ns = self._counter("cpu", "cpu.stat", "usage_usec") * 1000
            mem_cur = number("memory", "memory.current")
            mem_max = number("memory", "memory.peak")
            io_file = self._file("io", "io.stat")
            io = _sum_io_v2(read_text(io_file)) if io_file is not None else (0, 0)
        return CgroupUsage(cpu_ns, mem_cur, max(mem_max, mem_cur), io[0], io[1])

    async def remove(self, grace: float = 5.0) -> bool:
        """Kill what is left and delete the directories, polling until the kernel lets go.

        Returns False if some directory still exists after ``grace`` seconds. Idempotent.
        """
        deadline = time.monotonic() + grace
        while True:
            self.kill_all()
            busy = False
            for directory in set(self.dirs.values()):
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    busy = True
            if not busy:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)


class CgroupManager:
    """Creates kernel cgroups under one parent per controller."""

    def __init__(self, version: CgroupVersion, parents: Mapping[str, Path]) -> None:
        self.version = version
        self.parents = dict(parents)

    @classmethod
    def open(cls, layout: CgroupLayout, parent: str = "hangar") -> CgroupManager:
        """Create the parent directories; on v2 enable the controllers on every level from
        the hierarchy root down to them.

        Raises OSError where the hierarchy is not writable (or, on v2, a level on the way
        holds processes: EBUSY), which callers treat as "fall back to rlimits".
        """
        parents = parent_dirs(layout, parent)
        for directory in set(parents.values()):
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", str(directory))
        if layout.version is CgroupVersion.V2:
            enable = " ".join(f"+{c}" for c in sorted(layout.dirs))
            for controller, directory in parents.items():
                top = layout.mountpoints[controller]
                chain = [d for d in reversed(directory.parents) if d == top or top in d.parents]
                for level in [*chain, directory]:
                    _write(level / "cgroup.subtree_control", enable)
        return cls(layout.version, parents)

    def cgroup_for(self, kernel_id: str) -> KernelCgroup:
        """Return the kernel's cgroup paths (nothing is created)."""
        return KernelCgroup(self.version, {c: p / kernel_id for c, p in self.parents.items()})

    def create(self, kernel_id: str, limits: ResourceLimits) -> KernelCgroup:
        """Create (or reuse) the kernel's directories and write ``limits``. Raises OSError."""
        cgroup = self.cgroup_for(kernel_id)
        for directory in set(cgroup.dirs.values()):
            directory.mkdir(exist_ok=True)
        for path, value in limit_writes(cgroup, limits):
            if path.parent.is_dir() and (path.exists() or not path.name.endswith("swap.max")):
                _write(path, value)
        return cgroup

    @property
    def renames(self) -> bool:
        """Whether a kernel's directories can be renamed (v1; v2 has no rename)."""
        return self.version is CgroupVersion.V1

    def rename(
        self, source_id: str, kernel_id: str, limits: ResourceLimits | None = None
    ) -> KernelCgroup:
        """Give ``source_id``'s directories, with the processes in them, to ``kernel_id`` and
        write ``limits`` there (None: none) and start its counters over: a rename per
        hierarchy instead of new directories and every process moved over (~10 ms for a
        multi-threaded one, with the event loop stopped). Only where :attr:`renames`. On
        failure the source keeps its directories. Raises OSError."""
        source, target = self.cgroup_for(source_id), self.cgroup_for(kernel_id)
        pairs = sorted({(source.dirs[c], target.dirs[c]) for c in source.dirs})
        done: list[tuple[Path, Path]] = []
        try:
            for old, new in pairs:
                old.rename(new)  # fails when ``new`` exists: nothing is merged
                done.append((old, new))
            for path, value in limit_writes(target, limits) if limits is not None else ():
                if path.exists() or not path.name.endswith("swap.max"):
                    _write(path, value)
            if limits is not None:
                target.reset_counters()
        except OSError:
            for old, new in reversed(done):
                with contextlib.suppress(OSError):
                    new.rename(old)
            raise
        return target


def limit_writes(cgroup: KernelCgroup, limits: ResourceLimits) -> list[tuple[Path, str]]:
    """The (file, value) writes that apply ``limits``, in a valid order; "no limit" values
    reset a reused directory. Files of controllers the host lacks are left out."""
    d = cgroup.dirs
    memory, cpu, pids = limits.memory_bytes, limits.cpu, limits.pids_max
    quota = max(1000, int(cpu * CFS_PERIOD_US)) if cpu is not None else None
    writes: list[tuple[Path, str]] = []
    if cgroup.version is CgroupVersion.V1:
        if "memory" in d:
            mem = str(memory) if memory is not None else "-1"
            memsw = d["memory"] / "memory.memsw.limit_in_bytes"
            writes += [(memsw, "-1"), (d["memory"] / "memory.limit_in_bytes", mem)]
            writes += [(memsw, mem)] if memory is not None else []
        if "cpu" in d:
            writes += [(d["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD_US))]
            writes += [(d["cpu"] / "cpu.cfs_quota_us", str(quota) if quota else "-1")]
    else:
        if "memory" in d:
            writes += [(d["memory"] / "memory.max", str(memory) if memory else "max")]
            writes += [(d["memory"] / "memory.swap.max", "0" if memory else "max")]
        if "cpu" in d:
            writes += [(d["cpu"] / "cpu.max", f"{quota or 'max'} {CFS_PERIOD_US}")]
    if "pids" in d:
        writes += [(d["pids"] / "pids.max", str(pids) if pids is not None else "max")]
    return [(p, v) for p, v in writes if not p.name.startswith("memory.memsw") or p.exists()]
