"""Folder paths, mount targets and folder names: what is refused and what it becomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.core.errors import InvalidRequest
from hangar.core.storage.models import check_folder_name
from hangar.core.storage.mounts import mount_target, split_mount
from hangar.core.storage.paths import parts_of, plain_name


@pytest.mark.parametrize(
    ("path", "parts"),
    [(".", ()), ("", ()), ("a/b", ("a", "b")), ("./a//b/", ("a", "b")), ("a/../b", ("b",))],
)
def test_paths_become_plain_components(path: str, parts: tuple[str, ...]) -> None:
    assert parts_of(path) == parts


@pytest.mark.parametrize("path", ["/etc/passwd", "..", "../x", "a/../../x", "a\x00b"])
def test_escaping_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidRequest):
        parts_of(path)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", ""]), max_size=8))
def test_accepted_paths_never_climb(pieces: list[str]) -> None:
    try:
        parts = parts_of("/".join(pieces))
    except InvalidRequest:
        return
    assert ".." not in parts and "." not in parts and "" not in parts


def test_root_is_refused_where_a_file_is_needed() -> None:
    with pytest.raises(InvalidRequest):
        parts_of(".", allow_root=False)
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(InvalidRequest):
            plain_name(bad)


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("data", "/home/work/data"),
        ("data:d2", "/home/work/d2"),
        ("data=/home/work/m", "/home/work/m"),
        ("data:/data/set", "/data/set"),
    ],
)
def test_mount_targets(spec: str, target: str) -> None:
    name, alias = split_mount(spec)
    assert mount_target(name, alias) == target


@pytest.mark.parametrize("alias", ["/etc", "/usr/lib/x", "/", "/home/work", "../x", ".jupyter"])
def test_mount_targets_over_system_or_reserved_paths_are_refused(alias: str) -> None:
    with pytest.raises(InvalidRequest):
        mount_target("data", alias)


@pytest.mark.parametrize("name", ["mydata1", ".ssh", ".local", "a", "a.b-c_d"])
def test_valid_folder_names(name: str) -> None:
    assert check_folder_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "a-", "a/b", "..", ".bashrc", ".jupyter", "x" * 65])
def test_invalid_folder_names(name: str) -> None:
    with pytest.raises(InvalidRequest):
        check_folder_name(name)
