"""A task's documents: edit merges, hyperparameter and configuration edits, artifacts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from hangar.core.errors import InvalidRequest
from hangar.core.tracking.tasks import fields
from hangar.core.tracking.tasks.models import Task
from hangar.core.tracking.tasks.states import TaskStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def task(**docs: Any) -> Task:
    values: dict[str, Any] = {name: {} for name in (
        "execution", "script", "output", "models", "container", "hyperparams", "configuration",
        "runtime")}  # fmt: skip
    values.update(docs)
    return Task(
        "0" * 32, "t", "training", TaskStatus.CREATED, "", "", NOW, uuid.uuid4(), "default",
        None, "", None, [], [], NOW, None, None, None, NOW, NOW, None, None, None, None,
        **values,
    )  # fmt: skip


def test_objects_merge_and_maps_replace() -> None:
    stored = task(script={"binary": "python3", "diff": "a"}, runtime={"a": 1}, container={"x": "1"})
    values = fields.merged(stored, {"script": {"diff": "b"}, "runtime": {"b": 2}, "container": {}})
    assert values == {"script": {"binary": "python3", "diff": "b"}, "runtime": {"b": 2},
                      "container": {}}  # fmt: skip
    with pytest.raises(InvalidRequest, match="status"):
        fields.merged(stored, {"status": "completed"})


def item(section: str, name: str, value: Any = "1") -> dict[str, Any]:
    return {"section": section, "name": name, "value": value}


def test_hyperparameter_edits_by_replace_mode() -> None:
    stored = {"A": {"x": item("A", "x")}, "B": {"y": item("B", "y")}}
    none = fields.with_params(stored, [item("A", "z", 2)], fields.Replace.NONE)
    assert set(none["A"]) == {"x", "z"} and none["A"]["z"]["value"] == "2" and "B" in none
    section = fields.with_params(stored, [item("A", "z")], fields.Replace.SECTION)
    assert set(section["A"]) == {"z"} and "B" in section
    everything = fields.with_params(stored, [item("C", "w")], fields.Replace.ALL)
    assert set(everything) == {"C"}
    assert stored == {"A": {"x": item("A", "x")}, "B": {"y": item("B", "y")}}  # untouched
    with pytest.raises(InvalidRequest):
        fields.with_params(stored, [{"name": "no section"}], fields.Replace.NONE)


def test_hyperparameter_deletes_count_what_went() -> None:
    stored = {"A": {"x": item("A", "x"), "y": item("A", "y")}, "B": {"z": item("B", "z")}}
    kept, deleted = fields.without_params(stored, [{"section": "A", "name": "x"},
                                                   {"section": "B"}, {"section": "Q"}])  # fmt: skip
    assert (set(kept), set(kept["A"]), deleted) == ({"A"}, {"y"}, 2)
    assert {(p["section"], p["name"]) for p in fields.param_items(stored)} == {
        ("A", "x"), ("A", "y"), ("B", "z")}  # fmt: skip


def test_configuration_items() -> None:
    stored = {"a": {"name": "a", "value": "1"}}
    assert set(fields.with_configuration(stored, [{"name": "b", "value": "2"}], False)) == {
        "a", "b"}  # fmt: skip
    assert set(fields.with_configuration(stored, [{"name": "b"}], True)) == {"b"}
    assert fields.without_configuration(stored, ["a", "zz"]) == ({}, 1)


def test_artifacts_are_keyed_by_key_and_mode_and_sorted() -> None:
    stored = [{"key": "b", "type": "str", "mode": "output", "uri": "1"}]
    added = fields.with_artifacts(stored, [
        {"key": "b", "type": "str", "uri": "2"}, {"key": "b", "type": "str", "mode": "input"},
        {"key": "a", "type": "dict"},
    ])  # fmt: skip
    assert [(a["key"], a["mode"], a.get("uri")) for a in added] == [
        ("a", "output", None), ("b", "input", None), ("b", "output", "2")]  # fmt: skip
    kept, deleted = fields.without_artifacts(added, [{"key": "b", "mode": "input"}])
    assert deleted == 1 and [(a["key"], a["mode"]) for a in kept] == [("a", "output"),
                                                                      ("b", "output")]  # fmt: skip
    for bad in ({"type": "str"}, {"key": "", "type": "str"}, {"key": "k", "mode": "sideways"}):
        with pytest.raises(InvalidRequest):
            fields.with_artifacts([], [bad])
