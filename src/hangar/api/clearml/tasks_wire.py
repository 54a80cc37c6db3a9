"""Tasks and projects in ClearML's wire form: request bodies in, task objects out.

Unknown keys are dropped on the way in, nested ones too (``execution.dataviews``), so what a
task object carries is what the clients can parse. A task object always has the fields the
SDK reads without checking (spec §0.7), with their types (§0.8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from hangar.api.clearml.query import Language, rendered

KNOWN = {
    "execution": frozenset({
        "queue", "parameters", "model", "model_desc", "model_labels", "framework",
        "docker_cmd", "artifacts", "test_split",
    }),
    "script": frozenset({
        "binary", "repository", "tag", "branch", "version_num", "entry_point", "working_dir",
        "requirements", "diff",
    }),
    "output": frozenset({"destination", "model", "result", "error"}),
    "models": frozenset({"input", "output"}),
}  # fmt: skip
HIDDEN_BY_DEFAULT = frozenset({"enqueue_status"})

TASKS = Language(
    lists=frozenset({
        "id", "project", "user", "status", "type", "parent", "tags", "system_tags",
        "execution.queue", "models.input.model", "models.output.model", "company",
    }),
    ranges=frozenset({"created", "started", "completed", "active_duration", "last_iteration"}),
    dates=frozenset({"status_changed", "last_update", "last_change"}),
    list_prefixes=("hyperparams.", "configuration."),
    equal_prefixes=("runtime.", "script.", "output."),
    range_prefixes=("last_metrics.",),
    text_fields=("id", "name", "comment", "parent", "project", "script.repository"),
    time_fields=frozenset({"created", "started", "completed"}),
)  # fmt: skip
PROJECTS = Language(
    lists=frozenset({"id", "user", "tags", "system_tags", "parent", "basename", "company"}),
    ranges=frozenset({"created"}),
    dates=frozenset({"last_update"}),
    text_fields=("id", "name", "description"),
    time_fields=frozenset({"created"}),
)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TaskFields(Body):
    """What tasks.create and tasks.edit may set."""

    name: str | None = None
    type: str | None = None
    comment: str | None = None
    parent: str | None = None
    project: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    output_dest: str | None = None
    execution: dict[str, Any] | None = None
    script: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    container: dict[str, str | None] | None = None
    hyperparams: dict[str, dict[str, dict[str, Any]]] | None = None
    configuration: dict[str, dict[str, Any]] | None = None
    runtime: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the body sets, documents cleaned of keys no client reads."""
        own = set(TaskFields.model_fields) - {"output_dest"}
        given = self.model_dump(exclude_unset=True, include=own)
        changes = {k: v for k, v in given.items() if v is not None}
        for name, known in KNOWN.items():
            if name in changes:
                changes[name] = {k: v for k, v in changes[name].items() if k in known}
        if self.output_dest is not None:
            changes["output"] = {**changes.get("output", {}), "destination": self.output_dest}
        return changes


class TaskRequest(Body):
    task: str


class StatusRequest(TaskRequest):
    force: bool = False
    status_reason: str | None = None
    status_message: str | None = None

    def how(self) -> dict[str, Any]:
        return {
            "force": self.force,
            "reason": self.status_reason,
            "message": self.status_message,
        }


def task_object(doc: Mapping[str, Any], *, projected: bool = False) -> dict[str, Any]:
    """A task document as ClearML's task object (ISO datetimes; ``enqueue_status`` only
    when asked for by name)."""
    out = rendered({k: v for k, v in doc.items() if projected or k not in HIDDEN_BY_DEFAULT})
    assert isinstance(out, dict)
    if not projected:
        execution = out.setdefault("execution", {})
        if not isinstance(execution.get("artifacts"), list):
            execution["artifacts"] = []
        models = out.setdefault("models", {})
        models.setdefault("input", [])
        models.setdefault("output", [])
        for name in ("output", "script", "runtime", "hyperparams", "configuration", "container"):
            if not isinstance(out.get(name), dict):
                out[name] = {}
        out["last_iteration"] = int(out.get("last_iteration") or 0)
    return out


def fields_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` of an update answer: what was written, in wire form."""
    out = rendered(dict(values))
    assert isinstance(out, dict)
    return out
