"""Images and resource presets: queries for everyone, mutations for superadmins."""

from __future__ import annotations

import uuid

import strawberry

from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.mutations import SimpleResult, attempt, simple
from hangar.api.bai.graphql.scalars import BigInt, JSONString, as_json
from hangar.core.errors import InvalidRequest
from hangar.core.images.models import Image as ImageModel
from hangar.core.resources.service import Preset


@strawberry.type
class KVPair:
    key: str | None
    value: str | None


@strawberry.type
class ResourceLimit:
    key: str | None
    min: str | None
    max: str | None


@strawberry.type
class Image:
    id: uuid.UUID | None
    name: str | None
    humanized_name: str | None
    tag: str | None
    registry: str | None
    architecture: str | None
    digest: str | None
    labels: list[KVPair | None] | None
    aliases: list[str | None] | None
    size_bytes: BigInt | None  # never null in practice: the CLI formats it
    resource_limits: list[ResourceLimit | None] | None
    supported_accelerators: list[str | None] | None
    installed: bool | None
    installed_agents: list[str | None] | None
    hash: str | None


def image_of(image: ImageModel) -> Image:
    return Image(
        id=image.id,
        name=image.name,
        humanized_name=image.short_ref,
        tag=image.tag,
        registry=image.registry,
        architecture=image.architecture,
        digest=image.provider.digest or image.id.hex,
        labels=[KVPair(key=k, value=v) for k, v in sorted(image.labels.items())],
        aliases=list(image.aliases),
        size_bytes=BigInt(image.provider.size_bytes),
        resource_limits=[
            ResourceLimit(key=k, min=v.get("min"), max=v.get("max"))
            for k, v in sorted(image.resource_limits.items())
        ],
        supported_accelerators=["cuda"],
        installed=True,
        installed_agents=[],
        hash=image.id.hex,
    )


@strawberry.type
class ResourcePreset:
    name: str | None
    resource_slots: JSONString | None
    shared_memory: BigInt | None


def preset_of(preset: Preset) -> ResourcePreset:
    return ResourcePreset(
        name=preset.name,
        resource_slots=as_json(preset.resource_slots),
        shared_memory=BigInt(preset.shared_memory) if preset.shared_memory is not None else None,
    )


@strawberry.input
class KVPairInput:
    key: str
    value: str | None = None


@strawberry.input
class ModifyImageInput:
    labels: list[KVPairInput] | None = None


@strawberry.input
class CreateResourcePresetInput:
    resource_slots: JSONString
    shared_memory: str | None = None


@strawberry.input
class ModifyResourcePresetInput:
    resource_slots: JSONString | None = None
    shared_memory: str | None = None


@strawberry.type
class RescanImages:
    ok: bool | None
    msg: str | None
    task_id: uuid.UUID | None


@strawberry.type
class CreateResourcePreset:
    ok: bool | None
    msg: str | None
    resource_preset: ResourcePreset | None


@strawberry.type
class ImageQuery:
    @strawberry.field
    async def image(
        self, info: Info, reference: str, architecture: str | None = "x86_64"
    ) -> Image | None:
        found = await info.context.services.admin.images.get(reference, architecture or "x86_64")
        return image_of(found) if found is not None else None

    @strawberry.field
    async def images(
        self, info: Info, is_installed: bool | None = None, is_operation: bool | None = None
    ) -> list[Image | None] | None:
        ctx = info.context
        found = await ctx.services.admin.images.find(ctx.caller, is_operation=is_operation)
        if is_installed is False:
            return []
        return [image_of(i) for i in found]

    @strawberry.field
    async def resource_preset(self, info: Info, name: str | None = None) -> ResourcePreset | None:
        if name is None:
            return None
        found = await info.context.services.admin.resources.preset(name)
        return preset_of(found) if found is not None else None

    @strawberry.field
    async def resource_presets(self, info: Info) -> list[ResourcePreset | None] | None:
        return [preset_of(p) for p in await info.context.services.admin.resources.presets()]


@strawberry.type
class ImageMutation:
    @strawberry.mutation
    async def alias_image(
        self, info: Info, alias: str, target: str, architecture: str | None = "x86_64"
    ) -> SimpleResult:
        images = info.context.services.admin.images
        return await simple(
            info,
            "alias_image",
            lambda: images.alias(info.context.caller, alias, target, architecture or "x86_64"),
        )

    @strawberry.mutation
    async def dealias_image(self, info: Info, alias: str) -> SimpleResult:
        images = info.context.services.admin.images
        return await simple(
            info, "dealias_image", lambda: images.dealias(info.context.caller, alias)
        )

    # Set image labels; an empty value removes a label.
    @strawberry.mutation
    async def modify_image(
        self,
        info: Info,
        target: str,
        props: ModifyImageInput,
        architecture: str | None = "x86_64",
    ) -> SimpleResult:
        images = info.context.services.admin.images
        labels = {kv.key: kv.value or "" for kv in props.labels or []}
        return await simple(
            info,
            "modify_image",
            lambda: images.set_labels(
                info.context.caller, target, labels, architecture=architecture or "x86_64"
            ),
        )

    @strawberry.mutation
    async def rescan_images(self, info: Info, registry: str | None = None) -> RescanImages:
        """Re-register the images this server provides itself (the local registry)."""
        services = info.context.services
        caller = info.context.caller

        async def act() -> uuid.UUID:
            from hangar.core.identity.directory import require_superadmin

            require_superadmin(caller)
            return await services.images.rescan_in_background(services.bgtasks, caller, registry)

        ok, msg, task_id = await attempt(info, "rescan_images", act)
        return RescanImages(ok=ok, msg=msg, task_id=task_id)

    @strawberry.mutation
    async def create_resource_preset(
        self, info: Info, name: str, props: CreateResourcePresetInput
    ) -> CreateResourcePreset:
        resources = info.context.services.admin.resources

        async def act() -> Preset:
            if not isinstance(props.resource_slots, dict):
                raise InvalidRequest("resource_slots must be a JSON object")
            return await resources.save_preset(
                info.context.caller,
                name,
                resource_slots=props.resource_slots,
                shared_memory=props.shared_memory,
                create=True,
            )

        ok, msg, preset = await attempt(info, "create_resource_preset", act)
        return CreateResourcePreset(
            ok=ok, msg=msg, resource_preset=preset_of(preset) if preset else None
        )

    @strawberry.mutation
    async def modify_resource_preset(
        self, info: Info, name: str, props: ModifyResourcePresetInput
    ) -> SimpleResult:
        resources = info.context.services.admin.resources

        async def act() -> None:
            slots = props.resource_slots
            if slots is not None and not isinstance(slots, dict):
                raise InvalidRequest("resource_slots must be a JSON object")
            await resources.save_preset(
                info.context.caller,
                name,
                resource_slots=slots,
                shared_memory=props.shared_memory,
                create=False,
            )

        return await simple(info, "modify_resource_preset", act)

    @strawberry.mutation
    async def delete_resource_preset(self, info: Info, name: str) -> SimpleResult:
        resources = info.context.services.admin.resources
        return await simple(
            info,
            "delete_resource_preset",
            lambda: resources.delete_preset(info.context.caller, name),
        )
