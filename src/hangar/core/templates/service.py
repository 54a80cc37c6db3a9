"""Session templates: stored task templates, and sessions created from them.

A template belongs to a user (its owner) and is filed under a domain and a group. The owner
and the group's members see it; admins see those of their domain, superadmins all. Only the
owner or an admin in reach may change or delete it (deletion is soft). An ``owner``
principal (resolved by the face from its wire id) lets admins act for a user of their reach,
as session creation does.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute.models import (
    CreateOutcome,
    CreateRequest,
    Origin,
    OriginKind,
    SessionSpec,
)
from hangar.core.compute.options import mount_specs
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionType
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.identity.queries import Scope, scope_of
from hangar.core.identity.service import IdentityService
from hangar.core.principal import ADMIN_SCOPE, Principal
from hangar.core.templates import repo
from hangar.core.templates.model import SessionParams, bootstrap_of, load_payload, params_of
from hangar.core.templates.repo import StoredTemplate
from hangar.db.engine import DbSession


@dataclass(frozen=True, slots=True)
class Template:
    """A stored template as its viewer sees it: ``params`` is what a session made from it
    gets (typed), ``document`` the document as it was stored (faces echo it in their form)."""

    id: uuid.UUID
    name: str
    type: str
    user_uuid: uuid.UUID
    user_email: str
    group_id: uuid.UUID | None
    group_name: str | None
    domain_name: str
    params: SessionParams
    document: dict[str, Any]
    created_at: datetime
    is_owner: bool


@dataclass(frozen=True, slots=True)
class Overrides:
    """Keys a create-from-template request sets; None means "as the template says"."""

    name: str | None = None
    image: str | None = None
    architecture: str | None = None
    session_type: str | None = None
    domain_name: str | None = None
    group_name: str | None = None
    tag: str | None = None
    environ: dict[str, str] | None = None
    resources: dict[str, Any] | None = None
    mounts: list[str] | None = None
    mount_map: dict[str, str] | None = None
    scaling_group: str | None = None
    startup_command: str | None = None
    bootstrap_script: str | None = None
    starts_at: datetime | None = None
    callback_url: str | None = None
    cluster_size: int | None = None
    cluster_mode: str | None = None
    enqueue_only: bool = False
    max_wait_seconds: float = 0
    reuse_if_exists: bool = True
    owner: Principal | None = None  # the user the caller acts for (None: itself)


def _parse_id(template_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(template_id))
    except ValueError as exc:
        raise NotFound("template") from exc


class Templates:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        identity: IdentityService,
        compute: ComputeService,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._identity = identity
        self._compute = compute

    async def _visible(
        self, caller: Principal, template_id: uuid.UUID | None = None
    ) -> list[StoredTemplate]:
        """The templates the caller sees: all (superadmins), their domain's (admins), their
        own and their groups' (everyone else)."""
        scope = scope_of(caller)
        domain = caller.domain_name if scope == Scope.DOMAIN else None
        member = caller.user_uuid if scope == Scope.OWN else None
        async with self._sessions() as db:
            return await repo.visible(
                db, domain_name=domain, member=member, template_id=template_id
            )

    async def _load(
        self, caller: Principal, template_id: str, *, write: bool = False
    ) -> StoredTemplate:
        found = await self._visible(caller, _parse_id(template_id))
        if not found:
            raise NotFound("template")
        stored = found[0]
        if write and scope_of(caller) == Scope.OWN and stored.user_uuid != caller.user_uuid:
            raise NotFound("template")  # a group member may use it, not change it
        return stored

    def _view(self, caller: Principal, stored: StoredTemplate) -> Template:
        return Template(
            id=stored.id,
            name=stored.name,
            type=stored.type,
            user_uuid=stored.user_uuid,
            user_email=stored.user_email,
            group_id=stored.group_id,
            group_name=stored.group_name,
            domain_name=stored.domain_name,
            params=params_of(dict(stored.template)),
            document=dict(stored.template),
            created_at=stored.created_at,
            is_owner=stored.user_uuid == caller.user_uuid,
        )

    async def create(
        self,
        caller: Principal,
        payload: str,
        *,
        domain_name: str,
        group_name: str,
        owner: Principal | None = None,
    ) -> list[Template]:
        """Store the payload's templates for the owner (the caller unless acting for one)."""
        owner = self._compute.acting(caller, owner)
        documents = load_payload(payload)
        group_id = await self._identity.group_id_for(owner, domain_name, group_name)
        now = self._clock.now()
        stored = [
            StoredTemplate(
                id=uuid.uuid4(),
                name=name,
                type="task",
                user_uuid=owner.user_uuid,
                user_email=owner.email,
                group_id=group_id,
                group_name=group_name,
                domain_name=domain_name,
                template=document,
                created_at=now,
            )  # fmt: skip
            for name, document in documents
        ]
        async with self._sessions() as db, db.begin():
            for template in stored:
                repo.add(db, template)
        return [self._view(caller, t) for t in stored]

    async def find(self, caller: Principal, *, list_all: bool = False) -> list[Template]:
        """The caller's and their groups' templates; ``list_all`` widens it for admins."""
        seeing = caller
        if not list_all or scope_of(caller) == Scope.OWN:
            seeing = dataclasses.replace(caller, scopes=caller.scopes - {ADMIN_SCOPE})
        return [self._view(caller, t) for t in await self._visible(seeing)]

    async def get(self, caller: Principal, template_id: str) -> Template:
        return self._view(caller, await self._load(caller, template_id))

    async def update(self, caller: Principal, template_id: str, payload: str) -> None:
        stored = await self._load(caller, template_id, write=True)
        documents = load_payload(payload)
        if len(documents) != 1:
            raise InvalidRequest("An update takes exactly one template.")
        name, document = documents[0]
        async with self._sessions() as db, db.begin():
            await repo.change(
                db, stored.id, name=name, template=document, modified_at=self._clock.now()
            )

    async def delete(self, caller: Principal, template_id: str) -> None:
        stored = await self._load(caller, template_id, write=True)
        async with self._sessions() as db, db.begin():
            await repo.change(db, stored.id, is_active=False, modified_at=self._clock.now())

    async def create_session(
        self, caller: Principal, template_id: str, overrides: Overrides
    ) -> CreateOutcome:
        """Create a session from a template; every key the request sets wins."""
        owner = self._compute.acting(caller, overrides.owner)
        stored = await self._load(owner, template_id)
        return await self._compute.create(caller, build_request(stored, overrides))


def build_request(row: StoredTemplate, o: Overrides) -> CreateRequest:
    """The session request of a stored template with the request's overrides on top."""
    params = params_of(dict(row.template))
    if o.bootstrap_script is not None:
        params = dataclasses.replace(params, bootstrap=o.bootstrap_script)
    mounts = o.mounts if o.mounts is not None else params.mounts
    mount_map = (
        {**params.mount_map, **(o.mount_map or {})} if o.mounts is None else dict(o.mount_map or {})
    )
    try:
        session_type = SessionType((o.session_type or params.session_type).lower())
    except ValueError as exc:
        raise InvalidRequest("type must be interactive or batch") from exc
    spec = SessionSpec(
        image=o.image or params.image,
        architecture=o.architecture or params.architecture,
        resources={**params.resources, **(o.resources or {})},
        env={**params.environ, **(o.environ or {})},
        command=o.startup_command or params.startup_command,
        bootstrap_script=bootstrap_of(params),
        mounts=mount_specs(mounts, mount_map),
        restart=params.restart_policy,
    )
    return CreateRequest(
        name=o.name or f"tmpl-{secrets.token_hex(5)}",
        spec=spec,
        origin=Origin(OriginKind.TEMPLATE, str(row.id)),
        session_type=session_type,
        group_name=o.group_name or row.group_name or "default",
        domain_name=o.domain_name or row.domain_name,
        scaling_group=o.scaling_group or params.scaling_group,
        tag=o.tag if o.tag is not None else params.tag,
        callback_url=o.callback_url,
        starts_at=o.starts_at,
        cluster_size=o.cluster_size or 1,
        cluster_mode=o.cluster_mode or "single-node",
        enqueue_only=o.enqueue_only,
        max_wait_seconds=o.max_wait_seconds,
        reuse_if_exists=o.reuse_if_exists,
        owner=o.owner,
    )
