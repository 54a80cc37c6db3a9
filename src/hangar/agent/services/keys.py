"""SSH keys of a kernel: the user keypair (``id_container``) and the sshd host key."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Owner = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An OpenSSH private key (PEM-like text) and its ``authorized_keys`` line."""

    private: bytes
    public: bytes


def generate(comment: str) -> KeyPair:
    """A fresh Ed25519 keypair in OpenSSH formats; ``comment`` ends the public line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private, public + b" " + comment.encode() + b"\n")


def write_private(directory: Path, name: str, data: bytes, *, owner: Owner, mode: int) -> None:
    """Write ``directory/name`` with ``mode``, owned by ``owner``, never through a symlink,
    FIFO or device the sandbox may have put there. Raises OSError."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(directory / name, flags, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{name} is not a regular file")
        os.ftruncate(fd, 0)
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
