"""Where this process's cgroups live: v1 or v2, one directory per controller.

Pure parsing of ``/proc/self/mountinfo`` and ``/proc/self/cgroup`` plus small file readers,
shared by ``resources`` (limits the agent itself runs under) and ``runtimes`` (per-kernel
cgroups). ``proc_root`` is injectable so tests feed fake files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

V1_CONTROLLERS = frozenset({"memory", "cpu", "cpuacct", "pids", "blkio"})
V2_CONTROLLERS = frozenset({"memory", "cpu", "pids", "io"})
# Values at or above this are "no limit" in cgroup v1 (PAGE_COUNTER_MAX rounded to pages).
V1_UNLIMITED = 1 << 62

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class CgroupVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One mounted cgroup hierarchy: its fs type, mount point, root and v1 controllers."""

    version: CgroupVersion
    mountpoint: Path
    root: str
    controllers: frozenset[str]


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """The cgroup directories of one process, keyed by controller.

    Under v2 every controller maps to the same directory. ``mountpoints`` gives, per
    controller, the mount point of its hierarchy (where walking up must stop).
    """

    version: CgroupVersion
    dirs: Mapping[str, Path]
    mountpoints: Mapping[str, Path]


def _unescape(field: str) -> str:
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """Return the cgroup (v1) and cgroup2 mounts listed in a ``mountinfo`` text."""
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        if tail[0] == "cgroup2":
            version, controllers = CgroupVersion.V2, frozenset[str]()
        else:
            version = CgroupVersion.V1
            controllers = frozenset(tail[2].split(",")) & V1_CONTROLLERS
        mounts.append(
            CgroupMount(version, Path(_unescape(fields[4])), _unescape(fields[3]), controllers)
        )
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Map each v1 controller (and ``""`` for the v2 hierarchy) to this process's path."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        names = parts[1].split(",") if parts[1] else [""]
        for name in names:
            paths[name] = parts[2]
    return paths


def _join(mount: CgroupMount, path: str) -> Path:
    rel = path
    if mount.root != "/" and (rel == mount.root or rel.startswith(mount.root + "/")):
        rel = rel[len(mount.root) :]
    return mount.mountpoint / rel.lstrip("/")


def layout_from(mounts: list[CgroupMount], paths: Mapping[str, str]) -> CgroupLayout | None:
    """Choose v1 or v2 and return the process's directories, or None without memory control.

    v1 wins when it holds the memory controller (hybrid hosts keep memory there); v2 is used
    when its directory offers ``memory`` in ``cgroup.controllers``.
    """
    v1_dirs: dict[str, Path] = {}
    v1_mounts: dict[str, Path] = {}
    for mount in mounts:
        if mount.version is CgroupVersion.V1:
            for controller in mount.controllers:
                if controller in paths:
                    v1_dirs[controller] = _join(mount, paths[controller])
                    v1_mounts[controller] = mount.mountpoint
    if "memory" in v1_dirs:
        return CgroupLayout(CgroupVersion.V1, v1_dirs, v1_mounts)
    for mount in mounts:
        if mount.version is CgroupVersion.V2 and "" in paths:
            own = _join(mount, paths[""])
            available = set(read_text(own / "cgroup.controllers").split()) & V2_CONTROLLERS
            if "memory" in available:
                dirs = {name: own for name in available}
                return CgroupLayout(
                    CgroupVersion.V2, dirs, dict.fromkeys(available, mount.mountpoint)
                )
    return None


def detect_layout(proc_root: Path = Path("/proc")) -> CgroupLayout | None:
    """Return this process's cgroup layout, or None where no memory controller is mounted."""
    mountinfo = read_text(proc_root / "self" / "mountinfo")
    own = read_text(proc_root / "self" / "cgroup")
    return layout_from(parse_mountinfo(mountinfo), parse_proc_cgroup(own))


def read_text(path: Path) -> str:
    """Return a file's text, or ``""`` where it is missing or unreadable."""
    try:
        return path.read_text()
    except OSError:
        return ""


def read_int(path: Path) -> int | None:
    """Return a file's content as an int; None for missing, unreadable, ``max`` or junk."""
    text = read_text(path).strip()
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path: Path) -> dict[str, int]:
    """Parse a flat-keyed file (``key value`` per line: memory.stat, pids.events, ...)."""
    values: dict[str, int] = {}
    for line in read_text(path).splitlines():
        key, _, value = line.partition(" ")
        try:
            values[key] = int(value.strip())
        except ValueError:
            continue
    return values
