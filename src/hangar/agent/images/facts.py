"""Facts about an unpacked image read from its root file system: paths resolved as the
sandbox will see them (symlinks followed inside the root, never out of it), its shell, its
Python, and the passwd/group files its kernels get.

The kernel always runs as the node's work uid. The image config's ``User`` is honoured as far
as that allows: the image's files owned by any non-root user already belong to the work user
(see :mod:`.unpack`), and the user's name resolves to the work uid (``ls -l``, ``chown app``,
``su``-less programs that look themselves up by name). ``id -u`` still prints the work uid,
and a ``User`` of root runs as the work user: a sandbox never has root.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path, PurePosixPath

MAX_LINKS = 40
SHELLS = ("/bin/bash", "/bin/sh")
PYTHON_LIB_DIRS = ("usr/local/lib", "usr/lib", "opt/conda/lib")
_VERSION = re.compile(r"^python(3\.\d+)$")


def find(rootfs: Path, path: str) -> Path | None:
    """The host path of ``path`` inside the image (links followed inside the root); None
    when it does not exist there."""
    pending = [p for p in PurePosixPath(path).parts if p not in ("/", ".")]
    current: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            current = current[:-1]
            continue
        host = rootfs.joinpath(*current, part)
        if host.is_symlink():
            links += 1
            if links > MAX_LINKS:
                return None
            target = os.readlink(host)
            if target.startswith("/"):
                current = []
            pending[:0] = [p for p in target.split("/") if p not in ("", ".")]
            continue
        if not host.exists():
            return None
        current.append(part)
    return rootfs.joinpath(*current)


def is_program(rootfs: Path, path: str) -> bool:
    found = find(rootfs, path)
    return found is not None and found.is_file() and os.access(found, os.X_OK)


@functools.lru_cache(maxsize=256)
def image_shell(rootfs: Path) -> str | None:
    """The image's shell: bash, else sh (None: it has neither)."""
    return next((shell for shell in SHELLS if is_program(rootfs, shell)), None)


@functools.lru_cache(maxsize=256)
def python_version(rootfs: Path) -> str | None:
    """The image's Python version (``3.12``) from where its standard library lies."""
    for base in PYTHON_LIB_DIRS:
        directory = find(rootfs, base)
        if directory is None or not directory.is_dir():
            continue
        for entry in sorted(os.listdir(directory), reverse=True):
            match = _VERSION.match(entry)
            if match and (directory / entry / "os.py").is_file():
                return match.group(1)
    return None


@functools.lru_cache(maxsize=256)
def has_module(rootfs: Path, version: str, module: str) -> bool:
    """Whether the image's Python ``version`` has ``module`` installed."""
    places = [f"/{base}/python{version}/site-packages" for base in PYTHON_LIB_DIRS]
    places += ["/usr/lib/python3/dist-packages", "/usr/local/lib/python3/dist-packages"]
    places += [f"/usr/local/lib/python{version}/dist-packages"]
    return any(find(rootfs, f"{place}/{module}") is not None for place in places)


def _read(rootfs: Path, path: str) -> str:
    found = find(rootfs, path)
    if found is None or not found.is_file():
        return ""
    try:
        return found.read_text(errors="replace")
    except OSError:
        return ""


def user_name(rootfs: Path, user: str) -> str | None:
    """The name of the image config's non-root ``User`` (``app``, ``1000``, ``app:staff``);
    None for root or none."""
    name = user.partition(":")[0].strip()
    if not name or name in ("root", "0"):
        return None
    if not name.isdigit():
        return name
    for line in _read(rootfs, "/etc/passwd").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == name and fields[0] not in ("root", ""):
            return fields[0]
    return None


def user_ids(rootfs: Path, user: str) -> tuple[int, int] | None:
    """The uid and gid the image config's ``User`` names (``app``, ``999``, ``app:staff``,
    ``999:999``), looked up in the image's passwd and group; None for root, none or an
    unknown name."""
    name, _, group = (part.strip() for part in user.partition(":"))
    entries = [line.split(":") for line in _read(rootfs, "/etc/passwd").splitlines()]
    entry = next((f for f in entries if len(f) > 3 and name in (f[0], f[2])), None)
    if name.isdigit():
        uid = int(name)
    elif entry is not None and entry[2].isdigit():
        uid = int(entry[2])
    else:
        return None
    gid = uid
    if entry is not None and entry[3].isdigit():
        gid = int(entry[3])
    if group:
        groups = [line.split(":") for line in _read(rootfs, "/etc/group").splitlines()]
        named = next((f for f in groups if len(f) > 2 and group in (f[0], f[2])), None)
        if group.isdigit():
            gid = int(group)
        elif named is not None and named[2].isdigit():
            gid = int(named[2])
    return (uid, gid) if uid != 0 and gid != 0 else None


def passwd_text(rootfs: Path, uid: int, gid: int, user: str, shell: str) -> str:
    """The image's passwd with the work user (and the image's ``User`` by name) as ``uid``,
    home /home/work and the image's shell. Where ``uid`` is the image user's own (a user
    namespace maps it), that name comes first: ``id -un`` shows it."""
    alias = user_name(rootfs, user)
    names = {"work", alias}
    kept = []
    for line in _read(rootfs, "/etc/passwd").splitlines():
        fields = line.split(":")
        if not line or fields[0] in names or (len(fields) > 2 and fields[2] == str(uid)):
            continue
        kept.append(line)
    entries = [f"work:x:{uid}:{gid}:Hangar work user:/home/work:{shell}"]
    if alias is not None:
        mine = f"{alias}:x:{uid}:{gid}:the image's user:/home/work:{shell}"
        own = user_ids(rootfs, user) == (uid, gid)
        entries = [mine, *entries] if own else [*entries, mine]
    return "\n".join([*kept, *entries]) + "\n"


def group_text(rootfs: Path, gid: int, user: str) -> str:
    """The image's group file with ``work`` (and the image user's name) as the work gid;
    ``tty`` left out, as for host kernels (see the sandbox's group file)."""
    alias = user_name(rootfs, user)
    names = {"work", "tty", alias}
    kept = []
    for line in _read(rootfs, "/etc/group").splitlines():
        fields = line.split(":")
        if not line or fields[0] in names or (len(fields) > 2 and fields[2] == str(gid)):
            continue
        kept.append(line)
    entries = [f"work:x:{gid}:"] + ([f"{alias}:x:{gid}:"] if alias else [])
    return "\n".join([*kept, *entries]) + "\n"
