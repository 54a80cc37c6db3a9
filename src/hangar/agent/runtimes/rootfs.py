"""Kernels in container images: a copy-on-write overlay per kernel over the image's shared,
read-only root file system, and the bubblewrap options that make it the sandbox's root.

The overlay lives beside the scratch dirs (``<scratch_root>/.hangar-overlays/<kernel_id>``,
hidden from every sandbox like them): ``upper`` takes the kernel's changes, ``merged`` is
what the sandbox sees as ``/``. Sessions never change the image and start without copying
it. As root the kernel's overlayfs is mounted (bubblewrap 0.8 has no overlay options); a
non-root agent uses ``fuse-overlayfs``. ``/proc``, ``/dev``, ``/dev/shm``, ``/tmp``, the
work user, ``/home/work``, folder mounts, GPUs and seccomp are as for host kernels.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from hangar.agent.runtimes.base import HOME, BindMount, KernelSpec
from hangar.agent.runtimes.scratch import remove_tree

OVERLAYS_DIR = ".hangar-overlays"
MOUNT = "/usr/bin/mount"
UMOUNT = "/usr/bin/umount"
FUSE_OVERLAYFS = "/usr/bin/fuse-overlayfs"
FUSERMOUNT = "/usr/bin/fusermount3"
# Mount points the sandbox needs, made in the upper layer when the image lacks them.
NEEDED_DIRS = (("proc", 0o555), ("dev", 0o755), ("tmp", 0o1777), ("home", 0o755),
               ("home/work", 0o755), ("etc", 0o755))  # fmt: skip


# The host programs the sandbox runs before the user's (setpriv drops to the work user,
# prlimit applies rlimits) are not in the image: they are bound in with their libraries and
# started through the host's dynamic loader, so the image's own libc never meets them.
HOST_TOOLS = "/.hangar-host"


@functools.cache
def _tool_files(program: str) -> tuple[tuple[str, str], ...]:
    """(host path, name) of ``program`` and every shared object ``ldd`` says it loads."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True, check=False).stdout
    found = [(program, os.path.basename(program))]
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
        if path.startswith("/"):
            found.append((os.path.realpath(path), os.path.basename(path)))
    return tuple(found)


def _loader(program: str) -> str:
    names = [name for _, name in _tool_files(program) if name.startswith("ld-linux")]
    return f"{HOST_TOOLS}/{names[0]}" if names else ""


def host_tool_argv(program: str) -> list[str]:
    """How the sandbox of an image starts the host's ``program`` (see HOST_TOOLS)."""
    name = os.path.basename(program)
    loader = _loader(program)
    if not loader:  # a static program needs no loader
        return [f"{HOST_TOOLS}/{name}"]
    return [loader, "--library-path", HOST_TOOLS, f"{HOST_TOOLS}/{name}"]


def host_tool_args(programs: Sequence[str]) -> list[str]:
    """bwrap binds of ``programs`` and their libraries under HOST_TOOLS."""
    binds: dict[str, str] = {}
    for program in programs:
        for host, name in _tool_files(program):
            binds[name] = host
    return [a for name, host in sorted(binds.items())
            for a in ("--ro-bind", host, f"{HOST_TOOLS}/{name}")]  # fmt: skip


def overlay_dir(spec: KernelSpec) -> Path:
    return spec.scratch_dir.parent / OVERLAYS_DIR / spec.kernel_id


def merged_dir(spec: KernelSpec) -> Path:
    return overlay_dir(spec) / "merged"


def _run(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise OSError(f"{argv[0]} failed: {result.stderr.strip() or result.returncode}")


def mount_overlay(spec: KernelSpec, privileged: bool) -> Path:
    """Mount the kernel's overlay (idempotent: a mounted one is kept, as after an agent
    restart); its merged directory. Raises OSError."""
    lower = spec.image.rootfs
    if lower is None:
        raise OSError("the kernel has no image root file system")
    base = overlay_dir(spec)
    upper, work, merged = base / "upper", base / "work", base / "merged"
    if os.path.ismount(merged):
        return merged
    base.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (base, upper, work, merged):
        path.mkdir(mode=0o755, exist_ok=True)
    for name, mode in NEEDED_DIRS:
        if not os.path.lexists(lower / name) and not (upper / name).exists():
            (upper / name).mkdir(mode=mode)
            os.chmod(upper / name, mode)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if privileged:
        _run([MOUNT, "-t", "overlay", "overlay", "-o", options, str(merged)])
    else:
        if shutil.which(FUSE_OVERLAYFS) is None:
            raise OSError("a non-root agent needs fuse-overlayfs for image kernels "
                          "(apt-get install fuse-overlayfs)")  # fmt: skip
        _run([FUSE_OVERLAYFS, "-o", options, str(merged)])
    return merged


def unmount_overlay(spec: KernelSpec, *, keep: bool = False) -> None:
    """Unmount the kernel's overlay and, unless ``keep`` (a suspended kernel), delete its
    changes. Idempotent."""
    base = overlay_dir(spec)
    merged = base / "merged"
    if os.path.ismount(merged):
        if os.geteuid() == 0:
            _run([UMOUNT, "--lazy", str(merged)])
        else:
            _run([FUSERMOUNT, "-u", "-z", str(merged)])
    if not keep:
        remove_tree(base)


def image_filesystem_args(
    spec: KernelSpec,
    passwd: tuple[Path | None, Path | None],
    shm_args: Sequence[str],
    tools: Sequence[str] = (),
) -> list[str]:
    """bwrap's file system options for a kernel in an image: the merged overlay as the
    root, fresh /proc and /dev, private /dev/shm and /tmp, the work user, the interpreter
    shim, /home/work and the folder mounts."""
    args = ["--bind", str(merged_dir(spec)), "/", "--proc", "/proc", "--dev", "/dev"]
    args += [*shm_args, "--perms", "1777", "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--tmpfs", HOST_TOOLS, *host_tool_args(tools)]
    args += ["--remount-ro", HOST_TOOLS] if tools else []
    for source, target in zip(passwd, ("/etc/passwd", "/etc/group"), strict=True):
        args += ["--ro-bind", str(source), target] if source is not None else []
    for mount in spec.image.binds:
        args += _bind("--ro-bind", str(mount.host_path), mount.target)
    if spec.image.interpreter_prefix is not None:
        prefix = str(spec.image.interpreter_prefix)
        args += _bind("--ro-bind", prefix, prefix)
    args += ["--bind", str(spec.scratch_dir), HOME]
    for mount in sorted(spec.mounts, key=lambda m: m.target.count("/")):
        args += _bind(_flag(mount), str(mount.host_path), mount.target)
    return args


def _bind(flag: str, source: str, target: str) -> list[str]:
    """A bind whose missing parents bwrap makes 0755 (not 0700, which the work user could
    not pass); existing directories are left as the image has them."""
    parents = list(PurePosixPath(target).parents)[-2::-1]  # without "/", outermost first
    made = [a for parent in parents for a in ("--perms", "0755", "--dir", str(parent))]
    return [*made, flag, source, target]


def _flag(mount: BindMount) -> str:
    return "--ro-bind" if mount.read_only else "--bind"
