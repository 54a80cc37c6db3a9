"""Pure rules for a task's documents: edits, hyperparameters, configuration, artifacts.

Each function takes the stored values and a change and returns the values to write; none
touches the database. Section and parameter names are kept exactly as given (JSON needs no
escaping), so they read back as they were sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from hangar.core.errors import InvalidRequest
from hangar.core.tracking.tasks.models import MERGED, Task

EDITABLE = frozenset({
    "name", "type", "comment", "parent", "project", "tags", "system_tags", "execution",
    "script", "output", "models", "container", "hyperparams", "configuration", "runtime",
})  # fmt: skip
COLUMNS = {"parent": "parent_id", "project": "project_id"}
"""Fields whose column has another name."""

PROPERTIES = "properties"
"""The hyperparameter section editable in any status."""


class Replace(StrEnum):
    NONE = "none"
    SECTION = "section"
    ALL = "all"


def merged(task: Task, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The values an edit writes: embedded objects merged key by key, the rest replaced."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidRequest(f"Fields that cannot be edited: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in MERGED:
            value = {**getattr(task, name), **value}
        values[name] = value
    return values


def param_items(hyperparams: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every parameter of a hyperparameter map, section by section."""
    return [
        dict(item) if isinstance(item, Mapping) else {"section": section, "name": name}
        for section, params in hyperparams.items()
        if isinstance(params, Mapping)
        for name, item in params.items()
    ]


def _param(item: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    section, name = item.get("section"), item.get("name")
    if not isinstance(section, str) or not isinstance(name, str):
        raise InvalidRequest("Each hyperparameter needs a section and a name")
    entry = {k: item[k] for k in ("section", "name", "value", "type", "description") if k in item}
    if "value" in entry and entry["value"] is not None and not isinstance(entry["value"], str):
        entry["value"] = str(entry["value"])
    return section, name, entry


def with_params(
    stored: Mapping[str, Any], items: Iterable[Mapping[str, Any]], replace: Replace
) -> dict[str, Any]:
    """``stored`` hyperparameters with ``items`` set; ``replace`` drops every section (all)
    or the sections named (section) first."""
    parsed = [_param(item) for item in items]
    result: dict[str, Any] = {} if replace is Replace.ALL else {
        section: dict(params) for section, params in stored.items()
    }  # fmt: skip
    if replace is Replace.SECTION:
        for section, _, _ in parsed:
            result[section] = {}
    for section, name, entry in parsed:
        result.setdefault(section, {})[name] = entry
    return result


def without_params(
    stored: Mapping[str, Any], items: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, Any], int]:
    """``stored`` without the named parameters (a whole section where no name is given)."""
    result = {section: dict(params) for section, params in stored.items()}
    deleted = 0
    for item in items:
        section, name = item.get("section"), item.get("name")
        if not isinstance(section, str):
            raise InvalidRequest("Each hyperparameter to delete needs a section")
        if name is None:
            deleted += len(result.pop(section, {}))
        elif section in result and result[section].pop(name, None) is not None:
            deleted += 1
            if not result[section]:
                del result[section]
    return result, deleted


def sections_of(items: Iterable[Mapping[str, Any]]) -> set[Any]:
    return {item.get("section") for item in items}


def with_configuration(
    stored: Mapping[str, Any], items: Iterable[Mapping[str, Any]], replace: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {} if replace else dict(stored)
    for item in items:
        name = item.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("Each configuration item needs a name")
        keys = ("name", "value", "type", "description")
        result[name] = {k: item[k] for k in keys if k in item}
    return result


def without_configuration(
    stored: Mapping[str, Any], names: Iterable[str]
) -> tuple[dict[str, Any], int]:
    result = dict(stored)
    deleted = sum(1 for name in names if result.pop(name, None) is not None)
    return result, deleted


def _artifact_id(artifact: Mapping[str, Any]) -> tuple[str, str]:
    key = artifact.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("Each artifact needs a key")
    mode = artifact.get("mode") or "output"
    if mode not in ("input", "output"):
        raise InvalidRequest(f"Invalid artifact mode: {mode!r}")
    return key, str(mode)


def with_artifacts(
    stored: Iterable[Mapping[str, Any]], artifacts: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``stored`` artifacts with ``artifacts`` added or replaced (identity: key and mode),
    sorted by key."""
    by_id = {_artifact_id(a): dict(a) for a in stored if isinstance(a, Mapping)}
    for artifact in artifacts:
        key, mode = _artifact_id(artifact)
        by_id[(key, mode)] = {**artifact, "key": key, "mode": mode}
    return [by_id[i] for i in sorted(by_id)]


def without_artifacts(
    stored: Iterable[Mapping[str, Any]], artifacts: Iterable[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    gone = {_artifact_id(a) for a in artifacts}
    kept = [dict(a) for a in stored if isinstance(a, Mapping) and _artifact_id(a) not in gone]
    return kept, sum(1 for a in stored if isinstance(a, Mapping)) - len(kept)


def artifacts_of(task: Task) -> list[dict[str, Any]]:
    artifacts = task.execution.get("artifacts")
    return [a for a in artifacts if isinstance(a, dict)] if isinstance(artifacts, list) else []
