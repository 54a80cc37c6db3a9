"""Where a kernel's service files live, on the host and in the sandbox.

Per kernel the node keeps ``<root>/<kernel_id>/`` (``root`` sits beside the scratch dirs and is
hidden from every sandbox like them). The kernel sees it read-only at ``/tmp/.hangar`` (sshd
config, host key, the session key's ``authorized_keys``: written before any process runs, so
nothing in the sandbox can have planted links there) and its ``run/`` subdirectory writable at
``/tmp/.hangar/run``, where the HTTP services put their Unix sockets. Its ``profile`` is the
kernel's /etc/profile, so login shells keep the session's PATH. No TCP port is opened:
other sandboxes share the host network but cannot see these files.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hangar.agent.runtimes.base import BindMount
from hangar.agent.runtimes.scratch import remove_tree
from hangar.agent.services import keys

CONF_TARGET = "/tmp/.hangar"
RUN_TARGET = f"{CONF_TARGET}/run"
HOST_KEY = "ssh_host_ed25519_key"
AUTHORIZED_KEYS = "authorized_keys"
SSHD_CONFIG = "sshd_config"
USER_KEY = "id_container"
PROFILE = "profile"
SYSTEM_PROFILE = Path("/etc/profile")
# Environment sshd must not set from the config: the client's TERM, and what login sets.
_SSH_SKIPPED_ENV = frozenset({"TERM", "HOME", "USER", "SHELL", "LOGNAME", "MAIL"})


@dataclass(frozen=True, slots=True)
class ServiceDirs:
    """The host paths of one kernel's service files."""

    conf: Path

    @property
    def run(self) -> Path:
        return self.conf / "run"

    def mounts(self) -> tuple[BindMount, ...]:
        """The service directories and, where the host has one, the kernel's /etc/profile."""
        mounts = [
            BindMount(self.conf, CONF_TARGET, read_only=True),
            BindMount(self.run, RUN_TARGET, read_only=False),
        ]
        if SYSTEM_PROFILE.is_file():
            mounts.append(BindMount(self.conf / PROFILE, str(SYSTEM_PROFILE), read_only=True))
        return tuple(mounts)


def login_profile(system_profile: str, environ: Mapping[str, str]) -> str:
    """The system profile followed by the kernel's PATH: login shells (``ssh`` without a
    command) read /etc/profile, which on Debian resets PATH to the system directories and
    would hide the image's interpreter."""
    path = environ.get("PATH")
    if not path:
        return system_profile
    tail = "" if not system_profile or system_profile.endswith("\n") else "\n"
    return (
        f"{system_profile}{tail}\n# The session's search path (interpreter first).\n"
        f"PATH={shlex.quote(path)}\nexport PATH\n"
    )


def sshd_config(environ: Mapping[str, str]) -> str:
    """The per-kernel sshd configuration (inetd mode, run as the work user).

    Keys: the session's generated key and ``~/.ssh/authorized_keys`` (a ``.ssh`` vfolder).
    StrictModes is off because vfolder permissions are not the user's to fix; the sandbox
    has one user anyway. The kernel's environment is set for every login.
    """
    lines = [
        f"HostKey {CONF_TARGET}/{HOST_KEY}",
        f"AuthorizedKeysFile {CONF_TARGET}/{AUTHORIZED_KEYS} .ssh/authorized_keys",
        "AllowUsers work",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "Subsystem sftp internal-sftp",
        "LogLevel ERROR",
    ]
    settable = {
        name: value
        for name, value in sorted(environ.items())
        if name not in _SSH_SKIPPED_ENV and not any(c in value for c in '"\\\n\r')
    }
    if settable:
        lines.append("SetEnv " + " ".join(f'{k}="{v}"' for k, v in settable.items()))
    return "\n".join(lines) + "\n"


def prepare(
    dirs: ServiceDirs,
    scratch: Path,
    *,
    owner: keys.Owner,
    environ: Mapping[str, str],
    label: str,
    keep_dirs: bool = False,
) -> None:
    """(Re)create the kernel's service files and write a new ``id_container`` into its home.

    Run before any process of the kernel starts. With ``keep_dirs`` the directories stay
    (the same inodes: a sandbox built ahead for a pooled kernel, which ran nothing, binds
    them) and the files are rewritten in place. Raises OSError.
    """
    if not (keep_dirs and _is_own_dir(dirs.conf) and _is_own_dir(dirs.run)):
        remove_tree(dirs.conf)
        dirs.conf.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        dirs.conf.mkdir(mode=0o755)
        dirs.run.mkdir(mode=0o700)
    if owner is not None:
        os.chown(dirs.run, *owner)
    host = keys.generate(f"{label}-host")
    user = keys.generate(f"work@{label}")
    keys.write_private(dirs.conf, HOST_KEY, host.private, owner=owner, mode=0o600)
    keys.write_private(dirs.conf, AUTHORIZED_KEYS, user.public, owner=None, mode=0o644)
    config = sshd_config(environ).encode()
    keys.write_private(dirs.conf, SSHD_CONFIG, config, owner=None, mode=0o644)
    try:
        system = SYSTEM_PROFILE.read_text(errors="replace")
    except OSError:
        system = ""
    profile = login_profile(system, environ).encode()
    keys.write_private(dirs.conf, PROFILE, profile, owner=None, mode=0o644)
    keys.write_private(scratch, USER_KEY, user.private, owner=owner, mode=0o600)
    keys.write_private(scratch, USER_KEY + ".pub", user.public, owner=owner, mode=0o644)


def prepare_dirs(dirs: ServiceDirs, *, owner: keys.Owner) -> None:
    """Only the directories and the (empty) profile a sandbox binds: a pooled kernel's,
    whose files :func:`prepare` writes once a session adopts it. Raises OSError."""
    remove_tree(dirs.conf)
    dirs.conf.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    dirs.conf.mkdir(mode=0o755)
    dirs.run.mkdir(mode=0o700)
    if owner is not None:
        os.chown(dirs.run, *owner)
    keys.write_private(dirs.conf, PROFILE, b"", owner=None, mode=0o644)


def _is_own_dir(path: Path) -> bool:
    """A directory, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def adopt(source: ServiceDirs, target: ServiceDirs) -> None:
    """Rename a pooled kernel's service directories to the kernel that adopted it (missing
    is fine). Raises OSError."""
    if _is_own_dir(source.conf):
        remove_tree(target.conf)
        source.conf.rename(target.conf)


def remove(dirs: ServiceDirs) -> None:
    """Delete the kernel's service files. Idempotent."""
    remove_tree(dirs.conf)
