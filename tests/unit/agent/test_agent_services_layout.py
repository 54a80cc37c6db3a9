"""A kernel's sshd configuration and key files (pure parts, and files in a temp dir)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hangar.agent.services import keys, layout


def test_sshd_config_takes_both_key_sources_and_sets_the_kernel_environment() -> None:
    config = layout.sshd_config(
        {"PATH": "/shim/bin:/usr/bin", "BACKENDAI_SESSION_NAME": "s1", "TERM": "xterm",
         "BAD": 'has "quotes"', "HOME": "/elsewhere"}
    )  # fmt: skip
    lines = config.splitlines()
    assert "AuthorizedKeysFile /tmp/.hangar/authorized_keys .ssh/authorized_keys" in lines
    assert "PasswordAuthentication no" in lines and "AllowUsers work" in lines
    assert 'SetEnv BACKENDAI_SESSION_NAME="s1" PATH="/shim/bin:/usr/bin"' in lines
    assert "TERM" not in config and "BAD" not in config and "/elsewhere" not in config


def test_prepare_writes_private_files_and_a_fresh_user_key(tmp_path: Path) -> None:
    dirs, scratch = layout.ServiceDirs(tmp_path / "svc" / "k1"), tmp_path / "scratch"
    scratch.mkdir()
    layout.prepare(dirs, scratch, owner=None, environ={}, label="k1")
    first = (scratch / "id_container").read_bytes()
    assert first.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert stat.S_IMODE((scratch / "id_container").stat().st_mode) == 0o600
    assert stat.S_IMODE((dirs.conf / layout.HOST_KEY).stat().st_mode) == 0o600
    public = (dirs.conf / layout.AUTHORIZED_KEYS).read_text()
    assert public == (scratch / "id_container.pub").read_text()
    assert public.startswith("ssh-ed25519 ") and public.endswith(" work@k1\n")
    assert dirs.run.is_dir() and [m.target for m in dirs.mounts()][:2] == [
        "/tmp/.hangar",
        "/tmp/.hangar/run",
    ]
    assert (dirs.conf / layout.PROFILE).is_file()
    layout.prepare(dirs, scratch, owner=None, environ={}, label="k1")
    assert (scratch / "id_container").read_bytes() != first
    layout.remove(dirs)
    assert not dirs.conf.exists()


def test_login_profile_restores_the_session_path_after_the_system_profile() -> None:
    system = 'PATH="/usr/local/bin:/usr/bin:/bin"\nexport PATH\n'
    profile = layout.login_profile(system, {"PATH": "/shim bin/bin:/usr/bin", "X": "1"})
    assert profile.startswith(system)
    assert profile.endswith("PATH='/shim bin/bin:/usr/bin'\nexport PATH\n")
    assert layout.login_profile(system, {}) == system
    assert layout.login_profile("", {"PATH": "/p"}).endswith("PATH=/p\nexport PATH\n")


def test_key_files_are_never_written_through_links(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    os.symlink(target, tmp_path / "id_container")
    with pytest.raises(OSError):
        keys.write_private(tmp_path, "id_container", b"secret", owner=None, mode=0o600)
    assert target.read_text() == "keep"
    os.unlink(tmp_path / "id_container")
    os.mkfifo(tmp_path / "id_container")
    with pytest.raises(OSError):
        keys.write_private(tmp_path, "id_container", b"secret", owner=None, mode=0o600)
