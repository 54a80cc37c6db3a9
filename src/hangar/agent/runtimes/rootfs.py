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

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Collection, Sequence
from pathlib import Path, PurePosixPath

from hangar.agent.images import facts
from hangar.agent.runtimes.base import HOME, BindMount, KernelSpec
from hangar.agent.runtimes.scratch import remove_tree

OVERLAYS_DIR = ".hangar-overlays"
MNT_DETACH = 2  # umount2: lazy, as umount --lazy
_LIBC = ctypes.CDLL(None, use_errno=True)
FUSE_OVERLAYFS = "/usr/bin/fuse-overlayfs"
FUSERMOUNT = "/usr/bin/fusermount3"
# Mount points the sandbox needs, made in the upper layer when the image lacks them.
NEEDED_DIRS = (("proc", 0o555), ("dev", 0o755), ("tmp", 0o1777), ("home", 0o755),
               ("home/work", 0o755), ("etc", 0o755), (".hangar-host", 0o755))  # fmt: skip


# The host programs an image's sandbox runs (setpriv drops to the work user, prlimit applies
# rlimits, sshd and the web terminal's Python serve the session's apps, dash runs shell steps
# in images without a shell) are not in the image: one directory holding them and every
# shared object they load is bound read-only at HOST_TOOLS, and they start through the
# host's dynamic loader with that directory as their library path, so the image's own libc
# never meets them (and their children, the image's programs, never meet the host's).
HOST_TOOLS = "/.hangar-host"
TOOLS_PREFIX = ".tools-"
SSHD = "/usr/sbin/sshd"
DASH = "/bin/dash"
HOST_PYTHON = "/usr/bin/python3"
XTERM_DIR = "/usr/share/javascript/xterm"
SERVICE_TOOLS = (SSHD, DASH)
_tools_lock = threading.Lock()


def _ldd(path: str) -> list[tuple[str, str]]:
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts else "")
        if lib.startswith("/"):
            found.append((os.path.realpath(lib), os.path.basename(lib)))
    return found


@functools.cache
def _tool_files(program: str) -> tuple[tuple[str, str], ...]:
    """(host path, name) of ``program`` and every shared object ``ldd`` says it loads."""
    return ((os.path.realpath(program), os.path.basename(program)), *_ldd(program))


@functools.cache
def host_python() -> tuple[str, str] | None:
    """(binary, ``3.11``) of the host's Python whose standard library and packages the
    web terminal runs on (None: no usable one)."""
    real = os.path.realpath(HOST_PYTHON)
    version = os.path.basename(real).removeprefix("python")
    if not os.path.isfile(real) or not os.path.isfile(f"/usr/lib/python{version}/os.py"):
        return None
    return real, version


@functools.cache
def _python_files() -> tuple[tuple[str, str], ...]:
    """The shared objects the host Python and its compiled standard modules load."""
    found = host_python()
    if found is None:
        return ()
    binary, version = found
    modules = sorted(Path(f"/usr/lib/python{version}/lib-dynload").glob("*.so"))
    return tuple(lib for path in [binary, *map(str, modules)] for lib in _ldd(path))


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


def host_python_argv() -> list[str] | None:
    """How an image's sandbox starts the host's Python, isolated from the kernel's
    PYTHON* variables (None: the host has none to lend)."""
    found = host_python()
    if found is None:
        return None
    loader = _loader(found[0])
    python = f"{HOST_TOOLS}/py/bin/{os.path.basename(found[0])}"
    return [loader, "--library-path", HOST_TOOLS, python, "-I"] if loader else None


def _place(source: str, target: Path) -> None:
    """A hard link where the file system allows one, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _build_tools(path: Path, programs: Sequence[str]) -> None:
    files = {name: host for program in programs for host, name in _tool_files(program)}
    python = host_python()
    if python is not None:
        files.update((name, host) for host, name in _python_files())
    work = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    remove_tree(work)
    work.mkdir(mode=0o755)
    for name, host in sorted(files.items()):
        _place(host, work / name)
    if python is not None:
        binary, version = python
        for directory in ("py/bin", f"py/lib/python{version}", "py/lib/python3/dist-packages",
                          "xterm"):  # fmt: skip
            (work / directory).mkdir(mode=0o755, parents=True)
        _place(binary, work / "py" / "bin" / os.path.basename(binary))
    for made in [work, *work.rglob("*")]:
        if made.is_dir():
            made.chmod(0o755)
    try:
        work.rename(path)
    except OSError:  # another thread or agent made it first
        remove_tree(work)


def tools_dir(root: Path, programs: Sequence[str]) -> Path:
    """The directory of host tools for ``programs`` (and the service apps), made once under
    ``root``; its name changes with the host files it holds. Raises OSError."""
    wanted = sorted({*programs, *SERVICE_TOOLS})
    stamp = [(p, os.stat(p).st_mtime_ns) for p in wanted if os.path.exists(p)]
    stamp += [(p, os.stat(p).st_mtime_ns) for p in (HOST_PYTHON,) if os.path.exists(p)]
    key = hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]
    path = root / f"{TOOLS_PREFIX}{key}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)  # (the overlays' dir: hidden)
    with _tools_lock:
        if not path.is_dir():
            _build_tools(path, [p for p, _ in stamp if p != HOST_PYTHON])
    return path


def host_tool_args(tools: Path) -> list[str]:
    """bwrap binds of the tools directory at HOST_TOOLS and, inside it, the host Python's
    standard library and packages and the terminal page's scripts."""
    args = ["--ro-bind", str(tools), HOST_TOOLS]
    python = host_python()
    if python is not None:
        version = python[1]
        for source, target in ((f"/usr/lib/python{version}", f"py/lib/python{version}"),
                               ("/usr/lib/python3/dist-packages", "py/lib/python3/dist-packages"),
                               (XTERM_DIR, "xterm")):  # fmt: skip
            if os.path.isdir(source) and (tools / target).is_dir():
                args += ["--ro-bind", source, f"{HOST_TOOLS}/{target}"]
    return args


def overlay_dir(spec: KernelSpec) -> Path:
    return spec.scratch_dir.parent / OVERLAYS_DIR / spec.kernel_id


def merged_dir(spec: KernelSpec) -> Path:
    return overlay_dir(spec) / "merged"


def _syscall(name: str, *args: object) -> None:
    """libc's ``name`` (mount, umount2) called directly: no mount(8) to fork and exec, which
    costs 10-20 ms per kernel start and end. Raises OSError."""
    if getattr(_LIBC, name)(*args) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name} failed: {os.strerror(code)}")


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
    write_users(spec, base, privileged)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    if privileged:
        _syscall("mount", b"overlay", os.fsencode(merged), b"overlay", 0, options.encode())
    else:
        if shutil.which(FUSE_OVERLAYFS) is None:
            raise OSError("a non-root agent needs fuse-overlayfs for image kernels "
                          "(apt-get install fuse-overlayfs)")  # fmt: skip
        _run([FUSE_OVERLAYFS, "-o", options, str(merged)])
    return merged


def adopts_image(processes: Collection[object], old: KernelSpec, new: KernelSpec) -> bool:
    """Whether a pre-built bare sandbox of the host image (nothing runs in it, so nothing
    sees its mounts yet) can become the image kernel ``new``: the adoption mounts the
    image's overlay, and the sandbox's next process gets the image's root."""
    fixed = (old.uid, old.gid, old.gpus, old.unshare_net)
    return (
        not processes
        and old.image.rootfs is None
        and new.image.rootfs is not None
        and fixed == (new.uid, new.gid, new.gpus, new.unshare_net)
    )


def sandbox_ids(spec: KernelSpec, privileged: bool) -> tuple[int, int]:
    """The uid and gid the kernel's processes have inside: the image config's ``User`` where
    a user namespace maps it (an agent that is not root), else the work user's."""
    if not privileged and spec.image.user_ids is not None:
        return spec.image.user_ids
    return spec.uid, spec.gid


def write_users(spec: KernelSpec, base: Path, privileged: bool) -> None:
    """The kernel's /etc/passwd and /etc/group: the image's, with the work user and the
    image's ``User`` (see :mod:`hangar.agent.images.facts`)."""
    rootfs = spec.image.rootfs
    if rootfs is None:
        return
    shell = facts.image_shell(rootfs) or "/bin/sh"
    uid, gid = sandbox_ids(spec, privileged)
    passwd = facts.passwd_text(rootfs, uid, gid, spec.image.user, shell)
    group = facts.group_text(rootfs, gid, spec.image.user)
    for name, text in (("passwd", passwd), ("group", group)):
        (base / name).write_text(text)
        (base / name).chmod(0o644)


def kernel_shell(spec: KernelSpec) -> list[str]:
    """How a kernel runs a shell command line: bash on the host and in images that have it,
    else the image's sh, else (an image without a shell) the host's dash brought in."""
    if spec.image.rootfs is None:
        return ["/bin/bash"]
    shell = facts.image_shell(spec.image.rootfs)
    return [shell] if shell is not None else host_tool_argv(DASH)


def waiter_shell(spec: KernelSpec) -> list[str] | None:
    """The shell a pre-built sandbox of an image waits in: the host's dash, whatever shell
    the image has (None: a host kernel uses the runtime's)."""
    return host_tool_argv(DASH) if spec.image.rootfs is not None else None


def move_overlay(source: KernelSpec, spec: KernelSpec) -> None:
    """Give ``source``'s mounted overlay to ``spec`` (a kernel adopting a pre-built sandbox
    of the same image): its directory is renamed, the mount goes along; sandboxes already
    built keep their own view. Its passwd and group files are the image's and the work
    user's, the same for both. Raises OSError."""
    overlay_dir(source).rename(overlay_dir(spec))


def unmount_overlay(spec: KernelSpec, *, keep: bool = False) -> None:
    """Unmount the kernel's overlay and, unless ``keep`` (a suspended kernel), delete its
    changes. Idempotent."""
    base = overlay_dir(spec)
    merged = base / "merged"
    if os.path.ismount(merged):
        if os.geteuid() == 0:
            _syscall("umount2", os.fsencode(merged), MNT_DETACH)
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
    args += host_tool_args(tools_dir(overlay_dir(spec).parent, tools))
    base = overlay_dir(spec)
    for source, name in zip(passwd, ("passwd", "group"), strict=True):
        found = base / name if (base / name).is_file() else source
        args += ["--ro-bind", str(found), f"/etc/{name}"] if found is not None else []
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
