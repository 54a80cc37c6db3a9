"""Models in ClearML's wire form: request bodies in, model objects and batch results out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from hangar.api.clearml.errors import result_of
from hangar.api.clearml.query import Language, rendered
from hangar.core.errors import HangarError
from hangar.core.tracking.models.model import BatchOutcome, MetadataItem, Model, ModelChanges

LISTS = "id project user tags system_tags task framework uri ready parent company"
LANGUAGE = Language(
    lists=frozenset(LISTS.split()),
    ranges=frozenset({"created", "last_iteration"}),
    dates=frozenset({"last_update"}),
    list_prefixes=("metadata.",),
    range_prefixes=("last_metrics.",),
    text_fields=("id", "name", "comment", "framework", "uri"),
    time_fields=frozenset({"created"}),
)
"""What ``models.get_all`` filters on (spec 7.1 and the SDK's model queries)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _design(value: Any) -> Any:
    """``design`` is an object (``{"design": "<text>"}``); a bare text is taken as that."""
    if isinstance(value, str):
        return {"design": value}
    return value


class MetadataBody(_Body):
    key: str
    type: str = ""
    value: Any = ""

    def item(self) -> MetadataItem:
        value = self.value if isinstance(self.value, str) else str(self.value)
        return MetadataItem(self.key, self.type or "", value)


class ModelFields(_Body):
    """The fields ``models.create``/``edit``/``update`` may set."""

    name: str | None = None
    uri: str | None = None
    comment: str | None = None
    tags: list[str] | None = None
    system_tags: list[str] | None = None
    framework: str | None = None
    design: dict[str, Any] | None = None
    labels: dict[str, int] | None = None
    ready: bool | None = None
    project: str | None = None
    task: str | None = None
    parent: str | None = None
    iteration: int | None = None
    ui_cache: dict[str, Any] | None = None
    metadata: list[MetadataBody] | None = None

    _design = field_validator("design", mode="before")(_design)

    def changes(self) -> ModelChanges:
        return ModelChanges(
            name=self.name,
            uri=self.uri,
            comment=self.comment,
            tags=None if self.tags is None else tuple(self.tags),
            system_tags=None if self.system_tags is None else tuple(self.system_tags),
            framework=self.framework,
            design=self.design,
            labels=self.labels,
            ready=self.ready,
            project=self.project or None,
            task=self.task or None,
            parent=self.parent or None,
            iteration=self.iteration,
            ui_cache=self.ui_cache,
            metadata=None if self.metadata is None else tuple(m.item() for m in self.metadata),
        )


class CreateBody(ModelFields):
    name: str
    uri: str
    public: bool = False


class EditBody(ModelFields):
    model: str
    force: bool = False


class ModelBody(_Body):
    model: str


class SetReadyBody(ModelBody):
    publish_task: bool = True
    force_publish_task: bool = False


class DeleteBody(ModelBody):
    force: bool = False


class IdsBody(_Body):
    ids: list[str]
    force: bool = False
    publish_task: bool = True
    force_publish_task: bool = False

    @field_validator("ids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MetadataUpdateBody(ModelBody):
    metadata: list[MetadataBody]
    replace_metadata: bool = False


class MetadataDeleteBody(ModelBody):
    keys: list[str]


def model_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A model document (maybe projected) as the wire object."""
    out: dict[str, Any] = rendered(doc)
    if "labels" in out:
        out["stats"] = {"labels_count": len(out["labels"] or {})}
    return out


def model_object(model: Model) -> dict[str, Any]:
    return model_document(model.document())


def set_fields(changes: ModelChanges, names: list[str]) -> dict[str, Any]:
    """The ``fields`` of an edit's answer: what was set, in wire form."""
    given = changes.given()
    out: dict[str, Any] = {}
    for name in names:
        value = given[name]
        if name == "metadata":
            value = {m.key: {"key": m.key, "type": m.type, "value": m.value} for m in value}
        elif name == "iteration":
            name = "last_iteration"
        out[name] = rendered(value)
    return out


def error_entry(model_id: str, exc: HangarError) -> dict[str, Any]:
    code, subcode = result_of(exc)
    return {"id": model_id, "error": {"codes": [code, subcode], "msg": exc.message, "data": {}}}


def batch_result(outcome: BatchOutcome, extra: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{succeeded: [{id, ...}], failed: [{id, error}]}`` of a many-models call."""
    return {
        "succeeded": [{"id": i, **extra.get(i, {})} for i in outcome.succeeded],
        "failed": [error_entry(i, exc) for i, exc in outcome.failed.items()],
    }
