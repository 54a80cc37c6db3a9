"""``/template/session``: task templates, and ``POST /session/_/create-from-template``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from pydantic import AliasChoices, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response

from hangar.api.bai.auth import user
from hangar.api.bai.owners import acting_as, owner_named
from hangar.api.bai.params import Params, read_params
from hangar.api.bai.routes.session import create_response
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.principal import Principal
from hangar.core.templates.service import Overrides, Template

router = Router()


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class CreateParams(Params):
    payload: str
    group_name: str = Field("default", validation_alias=_alias("group_name", "group", "groupName"))
    domain_name: str = Field(
        "default", validation_alias=_alias("domain_name", "domain", "domainName")
    )
    owner_access_key: str | None = None


class ListParams(Params):
    all: bool = False


class GetParams(Params):
    format: str = "json"
    owner_access_key: str | None = None


class PutParams(Params):
    payload: str
    owner_access_key: str | None = None


class TemplateConfig(Params):
    mounts: list[str] | None = None
    mount_map: dict[str, str] | None = Field(None, validation_alias=_alias("mount_map", "mountMap"))
    environ: dict[str, str] | None = None
    resources: dict[str, Any] | None = None
    resource_opts: dict[str, Any] | None = Field(
        None, validation_alias=_alias("resource_opts", "resourceOpts")
    )
    scaling_group: str | None = Field(
        None, validation_alias=_alias("scalingGroup", "scaling_group")
    )


class FromTemplateParams(Params):
    template_id: str = Field(validation_alias=_alias("template_id", "templateId"))
    name: str | None = Field(None, validation_alias=_alias("name", "clientSessionToken"))
    image: str | None = Field(None, validation_alias=_alias("image", "lang"))
    architecture: str | None = Field(None, validation_alias=_alias("arch", "architecture"))
    type: str | None = Field(None, validation_alias=_alias("type", "sessionType"))
    domain: str | None = Field(None, validation_alias=_alias("domain", "domainName", "domain_name"))
    group: str | None = Field(None, validation_alias=_alias("group", "groupName", "group_name"))
    tag: str | None = None
    config: TemplateConfig | None = None
    enqueue_only: bool | None = Field(None, validation_alias=_alias("enqueueOnly", "enqueue_only"))
    max_wait_seconds: int | None = Field(
        None, ge=0, validation_alias=_alias("maxWaitSeconds", "max_wait_seconds")
    )
    reuse_if_exists: bool | None = Field(
        None, validation_alias=_alias("reuseIfExists", "reuse_if_exists")
    )
    startup_command: str | None = Field(
        None, validation_alias=_alias("startupCommand", "startup_command")
    )
    bootstrap_script: str | None = Field(
        None, validation_alias=_alias("bootstrap_script", "bootstrapScript")
    )
    starts_at: datetime | None = Field(None, validation_alias=_alias("starts_at", "startsAt"))
    callback_url: str | None = Field(
        None, validation_alias=_alias("callback_url", "callbackUrl", "callbackURL")
    )
    cluster_size: int | None = Field(
        None, ge=1, validation_alias=_alias("clusterSize", "cluster_size")
    )
    cluster_mode: str | None = Field(None, validation_alias=_alias("clusterMode", "cluster_mode"))
    owner_access_key: str | None = None

    @field_validator("name", "image", "type", "startup_command", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    def overrides(self, owner: Principal | None) -> Overrides:
        config = self.config or TemplateConfig()
        return Overrides(
            name=self.name,
            image=self.image,
            architecture=self.architecture,
            session_type=self.type,
            domain_name=self.domain,
            group_name=self.group,
            tag=self.tag,
            environ=config.environ,
            resources=config.resources,
            mounts=config.mounts,
            mount_map=config.mount_map,
            scaling_group=config.scaling_group,
            startup_command=self.startup_command,
            bootstrap_script=self.bootstrap_script,
            starts_at=self.starts_at,
            callback_url=self.callback_url,
            cluster_size=self.cluster_size,
            cluster_mode=self.cluster_mode,
            enqueue_only=bool(self.enqueue_only),
            max_wait_seconds=self.max_wait_seconds or 0,
            reuse_if_exists=self.reuse_if_exists is not False,
            owner=owner,
        )


def _item(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "id": t.id.hex,
        "created_at": str(t.created_at),
        "is_owner": t.is_owner,
        "user": str(t.user_uuid),
        "group": str(t.group_id) if t.group_id else None,
        "user_email": t.user_email,
        "group_name": t.group_name,
        "domain_name": t.domain_name,
        "type": t.type,
        "template": t.document,
    }


@router.post("/template/session")
async def create(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, CreateParams)
    created = await services_of(request).admin.templates.create(
        caller,
        params.payload,
        domain_name=params.domain_name,
        group_name=params.group_name,
        owner=await owner_named(request, params.owner_access_key),
    )
    first = created[0]
    body: dict[str, Any] = {"id": first.id.hex, "user": first.user_uuid.hex}
    if len(created) > 1:
        body["ids"] = [t.id.hex for t in created]
    return body


@router.get("/template/session")
async def list_templates(request: Request) -> list[dict[str, Any]]:
    caller = user(request)
    params = await read_params(request, ListParams)
    found = await services_of(request).admin.templates.find(caller, list_all=params.all)
    return [_item(t) for t in found]


@router.get("/template/session/{template_id}")
async def get(request: Request) -> Response:
    params = await read_params(request, GetParams)
    caller = await acting_as(request, params.owner_access_key)
    found = await services_of(request).admin.templates.get(
        caller, request.path_params["template_id"]
    )
    body = {
        "template": found.document,
        "name": found.name,
        "user_uuid": str(found.user_uuid),
        "group_id": str(found.group_id) if found.group_id else None,
        "domain_name": found.domain_name,
    }
    if params.format.lower() == "yaml":
        return Response(yaml.safe_dump(body, sort_keys=False), media_type="text/yaml")
    return Response(json.dumps(body), media_type="application/json")


@router.put("/template/session/{template_id}")
async def put(request: Request) -> dict[str, Any]:
    params = await read_params(request, PutParams)
    caller = await acting_as(request, params.owner_access_key)
    await services_of(request).admin.templates.update(
        caller, request.path_params["template_id"], params.payload
    )
    return {"success": True}


@router.delete("/template/session/{template_id}")
async def delete(request: Request) -> dict[str, Any]:
    params = await read_params(request, GetParams)
    caller = await acting_as(request, params.owner_access_key)
    await services_of(request).admin.templates.delete(caller, request.path_params["template_id"])
    return {"success": True}


@router.post("/session/_/create-from-template")
async def create_from_template(request: Request) -> Response:
    caller = user(request)
    params = await read_params(request, FromTemplateParams)
    overrides = params.overrides(await owner_named(request, params.owner_access_key))
    result = await services_of(request).admin.templates.create_session(
        caller, params.template_id, overrides
    )
    return create_response(result)
