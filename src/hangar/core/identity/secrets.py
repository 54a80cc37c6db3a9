"""Secrets: encryption at rest, password hashes, key generation.

Secret keys are needed in clear to check HMAC signatures, so they cannot be hashed; they are
encrypted with the server key (Fernet: AES-128-CBC + HMAC-SHA256) and decrypted on use.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hangar.core.errors import HangarError

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "/+"


class SecretDecryptionError(HangarError):
    code = "secret-decryption-failed"
    default_message = (
        "A stored secret cannot be decrypted with this server key; "
        "was the data dir started with another key?"
    )


def secret_file(path: Path, generate: Callable[[], bytes]) -> bytes:
    """The secret kept at ``path`` (surrounding whitespace stripped), written there first from
    ``generate()`` with mode 0600 when the file does not exist. Of two processes creating it
    at once, the second reads the first one's secret."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(generate() + b"\n")
    return path.read_bytes().strip()


class SecretBox:
    """Encrypts and decrypts short secrets with the server key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (signing a face's tokens), derived from the server
        key: every server process of an installation derives the same one."""
        return hmac.new(self._key, b"hangar-derived:" + purpose.encode(), hashlib.sha256).digest()

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """Load the key at ``path``, creating it (mode 0600) on first use."""
        return cls(secret_file(path, cls.generate_key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretDecryptionError() from exc


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_access_key() -> str:
    """``AKIA`` + 16 upper-case letters and digits, as the reference issues them."""
    return "AKIA" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(16))


def generate_secret_key() -> str:
    """40 characters, the length of the reference's secret keys."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def generate_password() -> str:
    """20 letters and digits: safe to paste into shells and option parsers."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def generate_ssh_keypair() -> tuple[str, str]:
    """An ed25519 keypair: (OpenSSH public key line, OpenSSH PEM private key)."""
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return public.decode() + " work@hangar", private.decode()
