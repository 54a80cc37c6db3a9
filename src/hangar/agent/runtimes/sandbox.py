"""Pure construction of the sandbox command line: environment, bwrap arguments, wrapper.

The command is ``sh -c WRAPPER`` (open the seccomp program as fd 3 and the file holding
bwrap's options as fd 4, write its own pid into the kernel's ``cgroup.procs`` files, exec)
-> ``bwrap`` -> (as root: ``setpriv`` dropping to the work user) -> (without cgroups:
``prlimit``) -> the user's argv. Everything is a plain argv, so foreign launchers can start
it too.

The sandbox's PID 1 is a fork of bwrap: its ``/proc/1/cmdline`` is bwrap's argv, readable by
the session. With an options file (``--args 4``) that argv names no host path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hangar.agent.runtimes.base import (
    DEFAULT_PATH,
    DOCUMENTED_ENV,
    HOME,
    BindMount,
    KernelSpec,
    ResourceLimits,
    validate_env,
)
from hangar.agent.runtimes.rootfs import host_tool_argv, image_filesystem_args, sandbox_ids

# Masked by an empty tmpfs in every sandbox: other users' homes, root's home, the host /tmp,
# and the cgroup tree (it names the other kernels; the sandbox's own cgroup namespace hides
# its path anyway).
DEFAULT_MASKS = ("/home", "/root", "/tmp", "/sys/fs/cgroup")
GPU_CONTROL_NODES = (
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-modeset",
)
WRAPPER_SCRIPT = (
    'if [ -n "$1" ]; then exec 3<"$1" || exit 125; fi; '
    'if [ -n "$2" ]; then exec 4<"$2" || exit 125; fi; n=$3; shift 3; '
    'while [ "$n" -gt 0 ]; do echo $$ >"$1" || exit 125; n=$((n-1)); shift; done; '
    'exec "$@"'
)
SECCOMP_FD = 3
ARGS_FD = 4


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """Host-side facts the command depends on.

    ``privileged``: bwrap runs as root and ``setpriv`` drops to the work user (no user
    namespace, so files in the scratch dir belong to the work uid on the host); otherwise
    bwrap maps the agent's own uid to the work uid in a user namespace.
    """

    bwrap: str = "/usr/bin/bwrap"
    setpriv: str = "/usr/bin/setpriv"
    prlimit: str = "/usr/bin/prlimit"
    shell: str = "/bin/sh"
    privileged: bool = True
    seccomp_file: Path | None = None
    passwd_file: Path | None = None
    group_file: Path | None = None
    hidden_paths: tuple[Path, ...] = ()
    disable_userns: bool = True  # bwrap >= 0.8 knows --disable-userns


def sandbox_env(spec: KernelSpec, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The documented environment, PATH (image prefix first), spec env, then ``extra``.

    HOME, USER and the GPU variables are facts of the sandbox and cannot be overridden.
    Raises InvalidKernelSpec for bad names in ``extra``.
    """
    validate_env(extra or {})
    prefix = spec.image.interpreter_prefix
    env = {"PATH": f"{prefix}/bin:{DEFAULT_PATH}" if prefix else DEFAULT_PATH, **DOCUMENTED_ENV}
    env.update(spec.environ)
    env.update(extra or {})
    env.update(HOME=HOME, USER="work")
    if spec.gpus:
        # UUIDs select the right devices whatever order CUDA enumerates the bound nodes in.
        use_uuids = all(g.uuid for g in spec.gpus)
        ids = [g.uuid if use_uuids and g.uuid else str(g.index) for g in spec.gpus]
        env.update(CUDA_VISIBLE_DEVICES=",".join(ids), CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return env


def mask_paths(
    spec: KernelSpec, hidden: Sequence[Path], exists: Callable[[str], bool] = os.path.lexists
) -> list[str]:
    """Existing paths to hide: defaults, configured ones (the data dir) and the scratch dir's
    parent (other kernels' scratch dirs); a path under another mask is left out."""
    wanted = [*DEFAULT_MASKS, *map(str, hidden), str(spec.scratch_dir.parent)]
    chosen: list[str] = []
    for path in sorted({os.path.normpath(p) for p in wanted}, key=lambda p: (len(p), p)):
        if path == "/" or not exists(path):
            continue
        if not any(path.startswith(done.rstrip("/") + "/") for done in chosen):
            chosen.append(path)
    return chosen


def _mask_args(path: str, is_dir: Callable[[str], bool]) -> list[str]:
    if path in ("/tmp",):
        return ["--perms", "1777", "--tmpfs", path]
    if is_dir(path):
        return ["--tmpfs", path]
    return ["--ro-bind", "/dev/null", path]


def _bind_args(flag: str, source: str, target: str, masks: Sequence[str]) -> list[str]:
    """A bind, preceded by ``--dir`` for its missing parents inside a masking tmpfs (bwrap
    would create them 0700, unreadable to the work user)."""
    args: list[str] = []
    for mask in masks:
        if target.startswith(mask.rstrip("/") + "/"):
            inner = PurePosixPath(target).relative_to(mask).parts[:-1]
            for depth in range(1, len(inner) + 1):
                args += ["--perms", "0755", "--dir", str(PurePosixPath(mask, *inner[:depth]))]
    return [*args, flag, source, target]


def _mount_args(mount: BindMount, masks: Sequence[str]) -> list[str]:
    flag = "--ro-bind" if mount.read_only else "--bind"
    return _bind_args(flag, str(mount.host_path), mount.target, masks)


def _user_args(spec: KernelSpec, options: SandboxOptions) -> list[str]:
    if options.privileged:
        # Kept only until setpriv execs: switch ids, drop the bounding set, enter the
        # work user's cwd (root without DAC caps may not search a 0750 scratch dir).
        caps = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_READ_SEARCH")
        return ["--cap-drop", "ALL", *(a for cap in caps for a in ("--cap-add", cap))]
    uid, gid = map(str, sandbox_ids(spec, privileged=False))  # an image's User, mapped
    # No nested user namespaces (seccomp denies them too, and is all there is when privileged).
    no_userns = ["--disable-userns"] if options.disable_userns else []
    return ["--unshare-user", "--uid", uid, "--gid", gid, *no_userns, "--cap-drop", "ALL"]


def bwrap_args(
    spec: KernelSpec,
    options: SandboxOptions,
    *,
    cwd: str = HOME,
    exists: Callable[[str], bool] = os.path.lexists,
    is_dir: Callable[[str], bool] = os.path.isdir,
) -> list[str]:
    """bwrap's options (without the program name and the ``--`` that ends them)."""
    fixed = kernel_args(spec, options, exists=exists, is_dir=is_dir)
    return ["--die-with-parent", *fixed, *run_args(options, cwd)]


def kernel_args(
    spec: KernelSpec,
    options: SandboxOptions,
    *,
    exists: Callable[[str], bool] = os.path.lexists,
    is_dir: Callable[[str], bool] = os.path.isdir,
) -> list[str]:
    """bwrap's options that depend on the kernel alone (namespaces, user, file system,
    devices): what an options file (see :func:`args_file_data`) holds."""
    args = ["--unshare-pid", "--unshare-ipc", "--unshare-cgroup-try"]
    args += ["--unshare-net"] if spec.unshare_net else []
    args += _user_args(spec, options)
    args += filesystem_args(spec, options, exists=exists, is_dir=is_dir)
    return args + gpu_device_args(spec, exists)


def run_args(options: SandboxOptions, cwd: str) -> list[str]:
    """bwrap's options that differ per process (none names a host path)."""
    seccomp = ["--seccomp", str(SECCOMP_FD)] if options.seccomp_file is not None else []
    return ["--chdir", cwd, *seccomp]


def args_file_data(args: Sequence[str]) -> bytes:
    """``args`` as bwrap's ``--args`` reads them: each followed by a NUL."""
    return b"".join(os.fsencode(arg) + b"\0" for arg in args)


def filesystem_args(
    spec: KernelSpec,
    options: SandboxOptions,
    *,
    exists: Callable[[str], bool] = os.path.lexists,
    is_dir: Callable[[str], bool] = os.path.isdir,
) -> list[str]:
    """Read-only root, fresh /proc and /dev, masks, then binds (image, scratch, vfolders)."""
    if spec.image.rootfs is not None:  # a container image: its overlay is the root
        shm = ["--perms", "1777"] + (["--size", str(s)] if (s := spec.limits.shmem_bytes) else [])
        passwd = (options.passwd_file, options.group_file)
        tools = [options.setpriv] if options.privileged else []
        tools += [options.prlimit]  # the fallback of kernels without cgroups
        return image_filesystem_args(spec, passwd, [*shm, "--tmpfs", "/dev/shm"], tools)
    masks = mask_paths(spec, options.hidden_paths, exists)
    mirrored = mirrored_dirs(spec, masks, exists)
    args = root_args(mirrored, HostTree()) if mirrored else ["--ro-bind", "/", "/"]
    for path in new_parent_dirs(spec, mirrored, exists):  # bwrap would make them 0700
        args += ["--perms", "0755", "--dir", path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    shm_size = spec.limits.shmem_bytes
    args += ["--perms", "1777"] + (["--size", str(shm_size)] if shm_size else [])
    args += ["--tmpfs", "/dev/shm"]
    for path in masks:
        args += _mask_args(path, is_dir)
    for source, target in (
        (options.passwd_file, "/etc/passwd"),
        (options.group_file, "/etc/group"),
    ):
        args += ["--ro-bind", str(source), target] if source is not None else []
    for mount in spec.image.binds:
        args += _mount_args(BindMount(mount.host_path, mount.container_path, True), masks)
    if spec.image.interpreter_prefix is not None:
        prefix = str(spec.image.interpreter_prefix)
        args += _bind_args("--ro-bind", prefix, prefix, masks)
    args += ["--bind", str(spec.scratch_dir), HOME]
    for mount in sorted(spec.mounts, key=lambda m: m.target.count("/")):
        args += _mount_args(mount, masks)
    return args + (["--remount-ro", "/"] if mirrored else [])


class HostTree:
    """The host's directory tree as :func:`root_args` reads it (a seam for tests)."""

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def readlink(self, path: str) -> str | None:
        return os.readlink(path) if os.path.islink(path) else None


def mirrored_dirs(
    spec: KernelSpec, masks: Sequence[str], exists: Callable[[str], bool]
) -> frozenset[str]:
    """Host directories to rebuild in a tmpfs root so bwrap can create mount points in them:
    the existing ancestors of every mount target that is missing on the host and lies
    outside the masks (a read-only bind of the host root could not hold a new directory)."""
    wanted: set[str] = set()
    for mount in spec.mounts:
        target = PurePosixPath(mount.target)
        if exists(str(target)) or any(
            str(target).startswith(mask.rstrip("/") + "/") for mask in masks
        ):
            continue
        parent = target.parent
        while not exists(str(parent)) and parent != parent.parent:
            parent = parent.parent
        wanted.update(str(p) for p in (parent, *parent.parents))
    return frozenset(wanted)


def new_parent_dirs(
    spec: KernelSpec, mirrored: frozenset[str], exists: Callable[[str], bool]
) -> list[str]:
    """The missing parents of mount targets below a rebuilt directory, parents first."""
    found: set[str] = set()
    for mount in spec.mounts:
        missing: list[str] = []
        for parent in PurePosixPath(mount.target).parents:
            if parent == parent.parent or exists(str(parent)):
                if str(parent) in mirrored:
                    found.update(missing)
                break
            missing.append(str(parent))
    return sorted(found, key=lambda p: (p.count("/"), p))


def root_args(mirrored: frozenset[str], tree: HostTree) -> list[str]:
    """A tmpfs root holding the host's entries: read-only binds (links as links), except
    the ``mirrored`` directories, which are rebuilt the same way one level down. The caller
    remounts the root read-only once every mount point exists."""
    args = ["--perms", "0755", "--tmpfs", "/"]

    def rebuild(directory: str) -> None:
        for name in tree.listdir(directory):
            path = str(PurePosixPath(directory, name))
            if path in ("/proc", "/dev"):
                continue
            link = tree.readlink(path)
            if link is not None:
                args.extend(["--symlink", link, path])
            elif path in mirrored:
                args.extend(["--perms", "0755", "--dir", path])
                rebuild(path)
            else:
                args.extend(["--ro-bind-try", path, path])

    rebuild("/")
    return args


def gpu_device_args(spec: KernelSpec, exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """``--dev-bind`` for each allocated GPU's node and, if any, the control nodes."""
    nodes = [g.device_node for g in spec.gpus if g.device_node and exists(g.device_node)]
    if nodes:
        nodes += [node for node in GPU_CONTROL_NODES if exists(node)]
    return [a for node in nodes for a in ("--dev-bind", node, node)]


def limit_prefix(spec: KernelSpec, options: SandboxOptions, rlimits: bool) -> list[str]:
    """Commands between bwrap and the user's argv: drop to the work user, apply rlimits."""
    prefix: list[str] = []
    if options.privileged:
        prefix += [
            *(host_tool_argv(options.setpriv) if spec.image.rootfs else [options.setpriv]),
            f"--reuid={spec.uid}",
            f"--regid={spec.gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
    if rlimits:
        prlimit = host_tool_argv(options.prlimit) if spec.image.rootfs else [options.prlimit]
        prefix += rlimit_args(spec.limits, prlimit)
    return prefix


def rlimit_args(limits: ResourceLimits, prlimit: str | Sequence[str]) -> list[str]:
    """``prlimit`` for the fallback: RLIMIT_AS for memory, RLIMIT_NPROC for process count."""
    args = []
    if limits.memory_bytes is not None:
        args.append(f"--as={limits.memory_bytes}")
    if limits.pids_max is not None:
        args.append(f"--nproc={limits.pids_max}")
    program = [prlimit] if isinstance(prlimit, str) else list(prlimit)
    return [*program, *args, "--"] if args else []


def wrapper_args(
    shell: str, seccomp_file: Path | None, join: Sequence[Path], args_file: Path | None = None
) -> list[str]:
    """``sh -c`` that opens the seccomp program as fd 3 and ``args_file`` as fd 4, and joins
    ``join`` before exec."""
    if seccomp_file is None and args_file is None and not join:
        return []
    files = [str(f) if f is not None else "" for f in (seccomp_file, args_file)]
    return [shell, "-c", WRAPPER_SCRIPT, "hangar-sandbox", *files, str(len(join)), *map(str, join)]


def sandbox_argv(
    spec: KernelSpec,
    options: SandboxOptions,
    argv: Sequence[str],
    *,
    cwd: str = HOME,
    join: Sequence[Path] = (),
    rlimits: bool = False,
    args_file: Path | None = None,
) -> list[str]:
    """The whole command that runs ``argv`` in the kernel ``spec`` describes. With
    ``args_file`` (which must hold :func:`kernel_args` as :func:`args_file_data` writes
    them) bwrap reads its kernel options from there and its own argv names no host path."""
    if args_file is None:
        options_argv = bwrap_args(spec, options, cwd=cwd)
    else:
        options_argv = ["--die-with-parent", "--args", str(ARGS_FD), *run_args(options, cwd)]
    return [
        *wrapper_args(options.shell, options.seccomp_file, join, args_file),
        options.bwrap,
        *options_argv,
        "--",
        *limit_prefix(spec, options, rlimits),
        *argv,
    ]


def passwd_text(host_passwd: str, uid: int, gid: int) -> str:
    """The host's passwd with any entry for ``uid`` or ``work`` replaced by the work user."""
    kept = [
        line
        for line in host_passwd.splitlines()
        if line
        and line.split(":")[0] != "work"
        and (len(line.split(":")) < 3 or line.split(":")[2] != str(uid))
    ]
    return "\n".join([*kept, f"work:x:{uid}:{gid}:Hangar work user:{HOME}:/bin/bash"]) + "\n"


def group_text(host_group: str, gid: int) -> str:
    """The host's group file with any entry for ``gid`` or ``work`` replaced by ``work``.

    ``tty`` is left out: terminals in the sandbox belong to the work group, and a non-root
    sshd gives up when it cannot hand a pty to a ``tty`` group it is not in.
    """
    kept = [
        line
        for line in host_group.splitlines()
        if line
        and line.split(":")[0] not in ("work", "tty")
        and (len(line.split(":")) < 3 or line.split(":")[2] != str(gid))
    ]
    return "\n".join([*kept, f"work:x:{gid}:"]) + "\n"
