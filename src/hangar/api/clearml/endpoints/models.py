"""``models.*`` and the task side of models (``tasks.add_or_update_model``, ``delete_models``).

Models belong to the tracking core's models part; a task's ``models.input``/``output`` lists
are the tasks part's documents, changed here through its field update (allowed in any status,
as the reference server does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hangar.api.clearml import model_wire as wire
from hangar.api.clearml import query
from hangar.api.clearml.errors import ClearmlError
from hangar.api.clearml.registry import Call, endpoint
from hangar.core.errors import HangarError
from hangar.core.principal import Principal
from hangar.core.tracking.models.model import BatchOutcome, ModelChanges, ModelId
from hangar.core.tracking.models.service import ModelIsReady, ModelsService


def _models(call: Call) -> ModelsService:
    return call.services.tracking.models


async def _answer(work: Awaitable[Any]) -> Any:
    """Run ``work``; a published model's refusal gets ClearML's model_is_ready (400/203)."""
    try:
        return await work
    except ModelIsReady as exc:
        raise ClearmlError(400, 203, exc.message) from None


# Reads -------------------------------------------------------------------------------------


@endpoint("models.get_by_id")
async def get_by_id(call: Call) -> dict[str, Any]:
    body = call.parse(wire.ModelBody)
    return {"model": wire.model_object(await _models(call).get(call.principal, body.model))}


async def _get_all(call: Call) -> dict[str, Any]:
    parsed, next_scroll = query.parse(wire.LANGUAGE, call.body)
    docs = await _models(call).query(call.principal, parsed)
    data: dict[str, Any] = {"models": [wire.model_document(d) for d in docs]}
    if next_scroll is not None:
        data["scroll_id"] = query.scroll_id(next_scroll)
    return data


endpoint("models.get_all")(_get_all)
endpoint("models.get_all_ex")(_get_all)


# Writes ------------------------------------------------------------------------------------


@endpoint("models.create")
async def create(call: Call) -> dict[str, Any]:
    body = call.parse(wire.CreateBody)
    model = await _models(call).create(call.principal, body.changes())
    return {"id": model.id, "created": True}


async def _edit(call: Call) -> dict[str, Any]:
    body = call.parse(wire.EditBody)
    changes = body.changes()
    names = await _answer(_models(call).edit(call.principal, body.model, changes, force=body.force))
    return {"updated": 1 if names else 0, "fields": wire.set_fields(changes, names)}


endpoint("models.edit")(_edit)
endpoint("models.update")(_edit)


class UpdateForTaskBody(wire.ModelFields):
    task: str
    override_model_id: str | None = None


@endpoint("models.update_for_task")
async def update_for_task(call: Call) -> dict[str, Any]:
    """The output model of a task, made or changed in one call (clients of API < 2.13)."""
    body = call.parse(UpdateForTaskBody)
    models = _models(call)
    changes = body.changes()
    if body.override_model_id:
        names = await _answer(models.edit(call.principal, body.override_model_id, changes))
        model = await models.get(call.principal, body.override_model_id)
        await _link(call, body.task, model.id, "output", model.name)
        return {"id": body.override_model_id, "created": False, "updated": 1 if names else 0,
                "fields": wire.set_fields(changes, names)}  # fmt: skip
    if body.uri is None:
        raise ClearmlError(400, 11, "Missing required fields: uri")
    model = await models.create(
        call.principal, ModelChanges(**{**changes.given(), "name": body.name or "model"})
    )
    await _link(call, body.task, model.id, "output", model.name)
    return {"id": model.id, "created": True, "updated": 0, "fields": {}}


async def _publish_task(call: Call, task_id: str | None, force: bool) -> dict[str, Any]:
    """What publishing a model did to its task (only when that was published too)."""
    if not task_id:
        return {}
    try:
        done = await call.services.tracking.experiments.tasks.publish(
            call.principal, task_id, force=force
        )
    except HangarError:
        return {}  # the model is published either way, as the reference server does
    fields = {k: query.rendered(v) for k, v in done.values.items()}
    return {"published_task": {"id": task_id, "data": {"updated": done.updated,
                                                          "fields": fields}}}  # fmt: skip


@endpoint("models.set_ready")
async def set_ready(call: Call) -> dict[str, Any]:
    body = call.parse(wire.SetReadyBody)
    before = await _models(call).set_ready(call.principal, body.model)
    data: dict[str, Any] = {"updated": 0 if before.ready else 1}
    if body.publish_task:
        data.update(await _publish_task(call, before.task, body.force_publish_task))
    return data


@endpoint("models.delete")
async def delete(call: Call) -> dict[str, Any]:
    body = call.parse(wire.DeleteBody)
    model = await _answer(_models(call).delete(call.principal, body.model, force=body.force))
    return {"deleted": True, "url": model.uri}


@endpoint("models.add_or_update_metadata")
async def add_or_update_metadata(call: Call) -> dict[str, Any]:
    body = call.parse(wire.MetadataUpdateBody)
    items = [m.item() for m in body.metadata]
    updated = await _models(call).set_metadata(
        call.principal, body.model, items, replace_all=body.replace_metadata
    )
    return {"updated": updated}


@endpoint("models.delete_metadata")
async def delete_metadata(call: Call) -> dict[str, Any]:
    body = call.parse(wire.MetadataDeleteBody)
    return {"updated": await _models(call).delete_metadata(call.principal, body.model, body.keys)}


# Many at once ------------------------------------------------------------------------------

Action = Callable[[ModelId], Awaitable[dict[str, Any]]]


async def _many(call: Call, act: Callable[[Principal, wire.IdsBody], Action]) -> dict[str, Any]:
    body = call.parse(wire.IdsBody)
    if not body.ids:
        raise ClearmlError(400, 11, "Missing required fields: ids")
    extra: dict[str, dict[str, Any]] = {}
    action = act(call.principal, body)

    async def run(model_id: ModelId) -> None:
        extra[model_id] = await action(model_id)

    outcome: BatchOutcome = await _models(call).many(body.ids, run)
    for model_id, exc in outcome.failed.items():
        if isinstance(exc, ModelIsReady):
            outcome.failed[model_id] = ClearmlError(400, 203, exc.message)
    return wire.batch_result(outcome, extra)


@endpoint("models.archive_many")
async def archive_many(call: Call) -> dict[str, Any]:
    def act(principal: Principal, _: wire.IdsBody) -> Action:
        async def one(model_id: ModelId) -> dict[str, Any]:
            changed = await _models(call).set_archived(principal, model_id, True)
            return {"archived": bool(changed)}

        return one

    return await _many(call, act)


@endpoint("models.unarchive_many")
async def unarchive_many(call: Call) -> dict[str, Any]:
    def act(principal: Principal, _: wire.IdsBody) -> Action:
        async def one(model_id: ModelId) -> dict[str, Any]:
            changed = await _models(call).set_archived(principal, model_id, False)
            return {"unarchived": bool(changed)}

        return one

    return await _many(call, act)


@endpoint("models.publish_many")
async def publish_many(call: Call) -> dict[str, Any]:
    def act(principal: Principal, body: wire.IdsBody) -> Action:
        async def one(model_id: ModelId) -> dict[str, Any]:
            before = await _models(call).set_ready(principal, model_id)
            if not body.publish_task:
                return {}
            return await _publish_task(call, before.task, body.force_publish_task)

        return one

    return await _many(call, act)


@endpoint("models.delete_many")
async def delete_many(call: Call) -> dict[str, Any]:
    def act(principal: Principal, body: wire.IdsBody) -> Action:
        async def one(model_id: ModelId) -> dict[str, Any]:
            model = await _models(call).delete(principal, model_id, force=body.force)
            return {"deleted": True, "url": model.uri}

        return one

    return await _many(call, act)


# The task's side ---------------------------------------------------------------------------


class TaskModelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task: str
    name: str
    model: str
    type: Literal["input", "output"]
    iteration: int | None = None


class TaskModelRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: Literal["input", "output"]


class DeleteTaskModelsBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task: str
    models: list[TaskModelRef]


async def _link(call: Call, task_id: str, model_id: str, kind: str, name: str | None) -> int:
    """Name ``model_id`` in the task's ``models.<kind>`` (replacing an entry of that name)."""
    entry = {"name": name or model_id, "model": model_id,
             "updated": call.services.clock.now().isoformat()}  # fmt: skip

    def change(task: Any) -> dict[str, Any]:
        models = {"input": [], "output": [], **dict(task.models or {})}
        kept = [m for m in models.get(kind) or [] if m.get("name") != entry["name"]]
        models[kind] = [*kept, entry]
        return {"models": models}

    done = await call.services.tracking.experiments.tasks.update_fields(
        call.principal, task_id, change, force=True, any_status=True
    )
    return done.updated


@endpoint("tasks.add_or_update_model")
async def add_or_update_model(call: Call) -> dict[str, Any]:
    body = call.parse(TaskModelBody)
    await _models(call).get(call.principal, body.model)  # a model the caller sees
    return {"updated": await _link(call, body.task, body.model, body.type, body.name)}


@endpoint("tasks.delete_models")
async def delete_models(call: Call) -> dict[str, Any]:
    body = call.parse(DeleteTaskModelsBody)
    gone = {(m.type, m.name) for m in body.models}

    def change(task: Any) -> dict[str, Any]:
        models = dict(task.models or {})
        for kind in ("input", "output"):
            models[kind] = [m for m in models.get(kind) or [] if (kind, m.get("name")) not in gone]
        return {} if models == task.models else {"models": models}

    done = await call.services.tracking.experiments.tasks.update_fields(
        call.principal, body.task, change, force=True, any_status=True
    )
    return {"updated": done.updated}
