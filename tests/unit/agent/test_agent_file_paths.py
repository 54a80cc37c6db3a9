"""Lexical path normalisation for /home/work: what is inside, what escapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangar.agent.files import ESCAPES, parse_path, sandbox_path
from hangar.agent.node_errors import PathEscapes


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("", ()),
        (".", ()),
        ("./", ()),
        ("a.txt", ("a.txt",)),
        ("sub/x.csv", ("sub", "x.csv")),
        ("sub//x.csv/", ("sub", "x.csv")),
        ("a/../b", ("b",)),
        ("a/./b", ("a", "b")),
        ("/home/work", ()),
        ("/home/work/", ()),
        ("/home/work/sub/x", ("sub", "x")),
        ("//home//work//a", ("a",)),
        ("/home/work/../work/a", ("a",)),
        ("sub%2Fx", ("sub%2Fx",)),
        ("..a/b..", ("..a", "b..")),
    ],
)
def test_paths_inside_home(path: str, parts: tuple[str, ...]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../x",
        "a/../../x",
        "./../x",
        "/",
        "/etc/passwd",
        "/home",
        "/home/workx/a",
        "/home/work/../x",
        "/home/work/../../etc/passwd",
        "/tmp/x",
        "a\0b",
    ],
)
def test_escapes_are_refused(path: str) -> None:
    with pytest.raises(PathEscapes, match=ESCAPES):
        parse_path(path)


names = st.text(
    alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=12,
).filter(lambda n: n not in (".", ".."))


@given(st.lists(names, max_size=6))
def test_plain_relative_paths_round_trip(parts: list[str]) -> None:
    path = "/".join(parts)
    assert parse_path(path) == tuple(parts)
    assert parse_path(sandbox_path(parts)) == tuple(parts)


@given(st.lists(st.one_of(names, st.just(".."), st.just(".")), max_size=8))
def test_normalised_paths_never_contain_dots(parts: list[str]) -> None:
    try:
        result = parse_path("/".join(parts))
    except PathEscapes:
        return
    assert ".." not in result and "." not in result
