"""A model as the core knows it, and the changes a request asks for."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from hangar.core.errors import HangarError

ModelId = str
"""A model's id: 32 lowercase hex digits."""

ARCHIVED = "archived"
"""The system tag of archived models."""


@dataclass(frozen=True, slots=True)
class MetadataItem:
    key: str
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class Model:
    id: ModelId
    name: str
    user: uuid.UUID
    company: str  # the owner's domain
    project: str | None
    task: str | None
    parent: str | None
    comment: str
    tags: tuple[str, ...]
    system_tags: tuple[str, ...]
    framework: str | None
    design: Mapping[str, Any]
    labels: Mapping[str, int]
    uri: str
    ready: bool
    metadata: Mapping[str, MetadataItem]
    ui_cache: Mapping[str, Any]
    last_iteration: int
    last_metrics: Mapping[str, Any]
    created: datetime
    last_update: datetime

    def document(self) -> dict[str, Any]:
        """The model as a plain document (queries filter, sort and project these)."""
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["user"] = str(self.user)
        doc["tags"], doc["system_tags"] = list(self.tags), list(self.system_tags)
        doc["labels"], doc["design"] = dict(self.labels), dict(self.design)
        doc["metadata"] = {
            k: {"key": m.key, "type": m.type, "value": m.value} for k, m in self.metadata.items()
        }
        return doc


@dataclass(frozen=True, slots=True)
class ModelChanges:
    """Fields a create or an edit sets; None leaves a field as it is (or at its default)."""

    name: str | None = None
    uri: str | None = None
    comment: str | None = None
    tags: tuple[str, ...] | None = None
    system_tags: tuple[str, ...] | None = None
    framework: str | None = None
    design: Mapping[str, Any] | None = None
    labels: Mapping[str, int] | None = None
    ready: bool | None = None
    project: str | None = None
    task: str | None = None
    parent: str | None = None
    iteration: int | None = None
    ui_cache: Mapping[str, Any] | None = None
    metadata: tuple[MetadataItem, ...] | None = None

    def given(self) -> dict[str, Any]:
        """The fields set, by name."""
        return {
            name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None
        }


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a many-models operation did: the ids it changed, and why the others were not."""

    succeeded: list[ModelId] = field(default_factory=list)
    failed: dict[ModelId, HangarError] = field(default_factory=dict)
