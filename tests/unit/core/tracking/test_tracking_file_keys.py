"""File server keys: what is refused, and which component names the task."""

from __future__ import annotations

import pytest

from hangar.core.errors import InvalidRequest
from hangar.core.tracking.files import key_parts, task_candidates

TASK = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "//etc/passwd",
        "..",
        "../x",
        "p/../../x",
        f"p/t.{TASK}/../t.{'f' * 32}/models/m.pkl",  # moving between tasks
        "p/a\x00b",
        "p\\..\\x",
        "p/" + "n" * 300,
    ],
)
def test_keys_that_escape_or_are_malformed_are_refused(key: str) -> None:
    with pytest.raises(InvalidRequest):
        key_parts(key)


def test_plain_keys_keep_their_components() -> None:
    key = f"proj A/exp full.{TASK}/artifacts/my dict/my_dict.json"
    assert key_parts(key) == ("proj A", f"exp full.{TASK}", "artifacts", "my dict", "my_dict.json")
    assert key_parts("a//b/./c") == ("a", "b", "c")


def test_the_task_is_a_component_ending_in_its_id_not_the_file_name() -> None:
    parts = key_parts(f"a/b/name.with.dots.{TASK}/metrics/x/y/{'e' * 32}.{TASK}")
    assert task_candidates(parts) == [TASK]
    nested = key_parts(f"long.{'1' * 32}/t.{TASK}/models/m.pkl")
    assert task_candidates(nested) == ["1" * 32, TASK]
    assert task_candidates(key_parts(f"p/t.{TASK.upper()}/f")) == []
