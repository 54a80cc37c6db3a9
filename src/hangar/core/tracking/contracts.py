"""What the parts of tracking need from one another, as protocols and plain values.

Tasks (with their projects), metrics (events), models and files are separate parts, each with
its own tables. They meet here: a part that needs another takes one of these protocols in its
constructor, and :mod:`hangar.core.tracking.plane` wires them. Task ids are 32 lowercase hex
digits (a uuid without dashes), as ClearML clients expect them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hangar.core.principal import Principal

TaskId = str
"""A task's id: 32 lowercase hex digits."""


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Where a task lives: enough to authorize on it and to find its files."""

    id: TaskId
    name: str
    project_id: str | None
    project_name: str
    owner: str  # the owning user's uuid (text)
    domain_name: str


class TaskAccess(Protocol):
    """Answers which tasks a principal may read or write (the tasks part implements it)."""

    async def readable(
        self, principal: Principal, ids: Collection[TaskId]
    ) -> dict[TaskId, TaskRef]:
        """The tasks among ``ids`` the principal may see; unknown or hidden ids are left out."""
        ...

    async def writable(
        self, principal: Principal, ids: Collection[TaskId]
    ) -> dict[TaskId, TaskRef]:
        """The tasks among ``ids`` the principal may change (add events, artifacts, ...)."""
        ...


@dataclass(frozen=True, slots=True)
class MetricsSummary:
    """A task's metrics at a glance, aggregated when events are written.

    ``last_metrics`` is keyed by md5(metric) then md5(variant) and holds the fields of
    ClearML's ``last_metrics`` entries (value, min/max/first with iterations, mean, count)."""

    last_iteration: int = 0
    last_metrics: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    last_update: datetime | None = None


class MetricsSummaries(Protocol):
    """Per-task metric summaries (the metrics part implements it; tasks render them)."""

    async def summaries(self, ids: Collection[TaskId]) -> dict[TaskId, MetricsSummary]: ...


@dataclass(frozen=True, slots=True)
class Cleaned:
    """What a cleanup removed with the tasks: events, output models and stored files (their
    keys on the file server), for the answers of ``tasks.delete`` and ``tasks.reset``;
    the urls of the deleted debug images and models, and the uris of the models kept."""

    events: int = 0
    models: int = 0
    files: tuple[str, ...] = ()
    event_urls: tuple[str, ...] = ()
    model_urls: tuple[str, ...] = ()
    kept_models: tuple[str, ...] = ()  # uris of output models left in place

    def __add__(self, other: Cleaned | None) -> Cleaned:
        if other is None:
            return self
        return Cleaned(
            self.events + other.events, self.models + other.models, self.files + other.files,
            self.event_urls + other.event_urls, self.model_urls + other.model_urls,
            self.kept_models + other.kept_models,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Keep:
    """What a task's deletion or reset leaves in place (``tasks.delete``/``reset`` with
    ``delete_output_models`` or ``delete_external_artifacts`` false): its output ``models``
    (and their weights' files), its stored ``files``. ``gone``: the task is deleted, not
    reset; files it keeps move to its owner's own keys (same url, reachable by the owner)."""

    models: bool = False
    files: bool = False
    gone: bool = True
    model_uris: tuple[str, ...] = ()  # filled in for the files part: the kept models' uris


KEEP_NOTHING = Keep()


class TaskCleanup(Protocol):
    """Told when tasks are deleted, so their events, models and files go with them; may say
    what went (None: nothing worth counting)."""

    async def tasks_deleted(self, tasks: Collection[TaskRef]) -> Cleaned | None: ...


class KeepingCleanup(Protocol):
    """A cleanup of something a deletion may be asked to keep (models, files)."""

    async def tasks_deleted(self, tasks: Collection[TaskRef], keep: Keep = ...) -> Cleaned: ...
