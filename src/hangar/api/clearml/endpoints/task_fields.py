"""``tasks.*`` that change one part of a task: requirements, artifacts, hyperparameters and
configuration items."""

from __future__ import annotations

from typing import Any, Literal

from hangar.api.clearml.endpoints.tasks import answer, experiments
from hangar.api.clearml.registry import Call, endpoint
from hangar.api.clearml.tasks_wire import Body, TaskRequest
from hangar.core.tracking.tasks import fields
from hangar.core.tracking.tasks.models import Task


class RequirementsRequest(TaskRequest):
    requirements: dict[str, Any]


@endpoint("tasks.set_requirements")
async def set_requirements(call: Call) -> dict[str, Any]:
    body = call.parse(RequirementsRequest)
    changed = await experiments(call).tasks.set_requirements(
        call.principal, body.task, body.requirements
    )
    return answer(changed)


class Artifact(Body):
    key: str
    type: str
    mode: Literal["input", "output"] = "output"
    uri: str | None = None
    content_size: int | None = None
    hash: str | None = None
    timestamp: int | None = None
    type_data: dict[str, Any] | None = None
    display_data: list[list[Any]] | None = None


class ArtifactsRequest(TaskRequest):
    artifacts: list[Artifact]
    force: bool = False


class ArtifactIdsRequest(TaskRequest):
    artifacts: list[dict[str, Any]]
    force: bool = False


@endpoint("tasks.add_or_update_artifacts")
async def add_or_update_artifacts(call: Call) -> dict[str, Any]:
    body = call.parse(ArtifactsRequest)
    given = [a.model_dump(exclude_none=True) for a in body.artifacts]

    def change(task: Task) -> dict[str, Any]:
        artifacts = fields.with_artifacts(fields.artifacts_of(task), given)
        return {"execution": {**task.execution, "artifacts": artifacts}}

    changed = await experiments(call).tasks.update_fields(
        call.principal, body.task, change, force=body.force
    )
    return {"updated": changed.updated}


@endpoint("tasks.delete_artifacts")
async def delete_artifacts(call: Call) -> dict[str, Any]:
    body = call.parse(ArtifactIdsRequest)
    deleted = 0

    def change(task: Task) -> dict[str, Any] | None:
        nonlocal deleted
        kept, deleted = fields.without_artifacts(fields.artifacts_of(task), body.artifacts)
        return {"execution": {**task.execution, "artifacts": kept}} if deleted else None

    await experiments(call).tasks.update_fields(call.principal, body.task, change, force=body.force)
    return {"deleted": deleted}


class TasksRequest(Body):
    tasks: list[str]


@endpoint("tasks.get_hyper_params")
async def get_hyper_params(call: Call) -> dict[str, Any]:
    body = call.parse(TasksRequest)
    found = await experiments(call).task_reads.find(call.principal, body.tasks)
    return {
        "params": [{"task": t.id, "hyperparams": fields.param_items(t.hyperparams)}
                   for t in found]
    }  # fmt: skip


class HyperParamsRequest(TaskRequest):
    hyperparams: list[dict[str, Any]]
    replace_hyperparams: Literal["none", "section", "all"] = "none"
    force: bool = False


@endpoint("tasks.edit_hyper_params")
async def edit_hyper_params(call: Call) -> dict[str, Any]:
    body = call.parse(HyperParamsRequest)
    replace = fields.Replace(body.replace_hyperparams)
    only_properties = fields.sections_of(body.hyperparams) == {fields.PROPERTIES}
    changed = await experiments(call).tasks.update_fields(
        call.principal, body.task,
        lambda t: {"hyperparams": fields.with_params(t.hyperparams, body.hyperparams, replace)},
        force=body.force, any_status=only_properties and replace is fields.Replace.NONE,
    )  # fmt: skip
    return {"updated": changed.updated}


class DeleteParamsRequest(TaskRequest):
    hyperparams: list[dict[str, Any]]
    force: bool = False


@endpoint("tasks.delete_hyper_params")
async def delete_hyper_params(call: Call) -> dict[str, Any]:
    body = call.parse(DeleteParamsRequest)
    deleted = 0

    def change(task: Task) -> dict[str, Any] | None:
        nonlocal deleted
        kept, deleted = fields.without_params(task.hyperparams, body.hyperparams)
        return {"hyperparams": kept} if deleted else None

    await experiments(call).tasks.update_fields(
        call.principal, body.task, change, force=body.force,
        any_status=fields.sections_of(body.hyperparams) == {fields.PROPERTIES},
    )  # fmt: skip
    return {"deleted": deleted}


class ConfigurationsRequest(TasksRequest):
    names: list[str] | None = None


@endpoint("tasks.get_configurations")
async def get_configurations(call: Call) -> dict[str, Any]:
    body = call.parse(ConfigurationsRequest)
    found = await experiments(call).task_reads.find(call.principal, body.tasks)
    return {
        "configurations": [
            {"task": t.id, "configuration": [
                item for name, item in sorted(t.configuration.items())
                if body.names is None or name in body.names
            ]}
            for t in found
        ]
    }  # fmt: skip


class ConfigurationNamesRequest(TasksRequest):
    skip_empty: bool = True


@endpoint("tasks.get_configuration_names")
async def get_configuration_names(call: Call) -> dict[str, Any]:
    body = call.parse(ConfigurationNamesRequest)
    found = await experiments(call).task_reads.find(call.principal, body.tasks)
    return {
        "configurations": [{"task": t.id, "names": sorted(t.configuration)} for t in found
                           if t.configuration or not body.skip_empty]
    }  # fmt: skip


class ConfigurationRequest(TaskRequest):
    configuration: list[dict[str, Any]]
    replace_configuration: bool = False
    force: bool = False


@endpoint("tasks.edit_configuration")
async def edit_configuration(call: Call) -> dict[str, Any]:
    body = call.parse(ConfigurationRequest)
    changed = await experiments(call).tasks.update_fields(
        call.principal, body.task,
        lambda t: {"configuration": fields.with_configuration(
            t.configuration, body.configuration, body.replace_configuration)},
        force=body.force,
    )  # fmt: skip
    return {"updated": changed.updated}


class DeleteConfigurationRequest(TaskRequest):
    configuration: list[str]
    force: bool = False


@endpoint("tasks.delete_configuration")
async def delete_configuration(call: Call) -> dict[str, Any]:
    body = call.parse(DeleteConfigurationRequest)
    deleted = 0

    def change(task: Task) -> dict[str, Any] | None:
        nonlocal deleted
        kept, deleted = fields.without_configuration(task.configuration, body.configuration)
        return {"configuration": kept} if deleted else None

    await experiments(call).tasks.update_fields(call.principal, body.task, change, force=body.force)
    return {"deleted": deleted}
