from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from hangar.core.identity.secrets import (
    SecretBox,
    SecretDecryptionError,
    generate_access_key,
    generate_secret_key,
    generate_ssh_keypair,
    hash_password,
    verify_password,
)


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox(SecretBox.generate_key())
    secret = generate_secret_key()
    token = box.encrypt(secret)
    assert secret not in token
    assert box.decrypt(token) == secret
    assert box.encrypt(secret) != token  # random IV: equal secrets do not look equal


def test_another_key_cannot_decrypt() -> None:
    token = SecretBox(SecretBox.generate_key()).encrypt("s3cret")
    with pytest.raises(SecretDecryptionError):
        SecretBox(SecretBox.generate_key()).decrypt(token)


def test_tampered_ciphertext_is_refused() -> None:
    box = SecretBox(SecretBox.generate_key())
    token = box.encrypt("s3cret")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SecretDecryptionError):
        box.decrypt(tampered)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    token = SecretBox.from_file(path).encrypt("x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SecretBox.from_file(path).decrypt(token) == "x"


def test_key_shapes() -> None:
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", generate_access_key())
    assert len(generate_secret_key()) == 40
    assert generate_access_key() != generate_access_key()


def test_passwords() -> None:
    hashed = hash_password("correct horse")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "correct horse")


def test_ssh_keypair() -> None:
    public, private = generate_ssh_keypair()
    assert public.startswith("ssh-ed25519 ")
    assert "BEGIN OPENSSH PRIVATE KEY" in private
