"""Projects and tasks as the tracking core hands them out."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from hangar.core.tracking.tasks.states import TaskStatus


class TaskType(StrEnum):
    TRAINING = "training"
    TESTING = "testing"
    INFERENCE = "inference"
    DATA_PROCESSING = "data_processing"
    APPLICATION = "application"
    MONITOR = "monitor"
    CONTROLLER = "controller"
    OPTIMIZER = "optimizer"
    SERVICE = "service"
    QC = "qc"
    CUSTOM = "custom"
    REPORT = "report"


DOCUMENTS = (
    "execution", "script", "output", "models", "container", "hyperparams", "configuration",
    "runtime",
)  # fmt: skip
"""A task's JSON documents."""

MERGED = frozenset({"execution", "script", "output", "models"})
"""Documents an edit merges key by key; every other field an edit replaces whole."""

DEVELOPMENT = "development"
ARCHIVED = "archived"
HIDDEN = "hidden"


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    basename: str
    description: str
    user: uuid.UUID
    company: str
    parent: str | None
    tags: list[str]
    system_tags: list[str]
    default_output_destination: str | None
    created: datetime
    last_update: datetime

    def document(self) -> dict[str, Any]:
        """The project as a plain document (queries filter, sort and project these)."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["user"] = str(self.user)
        return doc


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    name: str
    type: str
    status: TaskStatus
    status_reason: str
    status_message: str
    status_changed: datetime | None
    user: uuid.UUID
    company: str
    project: str | None
    comment: str
    parent: str | None
    tags: list[str]
    system_tags: list[str]
    created: datetime
    started: datetime | None
    completed: datetime | None
    published: datetime | None
    last_update: datetime
    last_change: datetime
    last_worker: str | None
    last_worker_report: datetime | None
    active_duration: int | None
    enqueue_status: str | None
    execution: dict[str, Any]
    script: dict[str, Any]
    output: dict[str, Any]
    models: dict[str, Any]
    container: dict[str, Any]
    hyperparams: dict[str, Any]
    configuration: dict[str, Any]
    runtime: dict[str, Any]
    last_iteration: int = 0
    last_metrics: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The task as a plain document: status as its word, owner as text."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["status"] = self.status.value
        doc["user"] = str(self.user)
        doc["last_metrics"] = dict(self.last_metrics)
        return doc


class TaskNotFound(NotFound):
    def __init__(self, task_id: str) -> None:
        super().__init__("task", f"Invalid task id: {task_id}")


class ProjectNotFound(NotFound):
    def __init__(self, project_id: str) -> None:
        super().__init__("project", f"Invalid project id: {project_id}")


class ProjectExists(AlreadyExists):
    code = "project-exists"


class TaskNotDeletable(Conflict):
    code = "task-not-deletable"
    default_message = "Only a created task can be deleted without force."


class ProjectNotEmpty(Conflict):
    code = "project-not-empty"
    default_message = "The project has tasks or sub-projects; delete with force."


def new_id() -> str:
    return uuid.uuid4().hex


_ID = re.compile(r"^[0-9a-f]{32}$")


def is_id(value: str) -> bool:
    """Whether ``value`` looks like a tracking id (32 lowercase hex digits)."""
    return bool(_ID.match(value))


def check_name(name: str, what: str = "task") -> str:
    """The name stripped; empty names are refused."""
    stripped = name.strip()
    if not stripped:
        raise InvalidRequest(f"A {what} name must not be empty")
    if len(stripped) > 1024:
        raise InvalidRequest(f"A {what} name must not exceed 1024 characters")
    return stripped


def project_path(name: str) -> list[str]:
    """The parts of a project path "a/b/c"; empty parts are refused."""
    parts = [part.strip() for part in check_name(name, "project").split("/")]
    if any(not part for part in parts):
        raise InvalidRequest(f"Invalid project name: {name!r}")
    if any(len(part) > 255 for part in parts):
        raise InvalidRequest("A part of a project name must not exceed 255 characters")
    return parts
