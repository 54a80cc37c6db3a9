"""Users never reach each other's things: the isolation matrix of the Backend.AI face.

Alice owns a running session, a folder, a session template, a dotfile and an invitation
(to carol). Bob is a plain user of the same domain; dana is the admin of another domain.
For every route (the inventory below must name each route the app registers, so a new
route cannot slip by unclassified), each request aimed at one of alice's things must get
403 or 404 from bob and from dana and must change nothing; alice's own request is the
control that shows the probe really aims at something. Lists, GraphQL lists, event
streams and the app and stream endpoints must not show alice's things either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.asgi import call, websocket
from tests.support.routes import registered_routes
from tests.support.world import ALICE, BOB, CAROL, DANA, SUPER, World, diff, open_world, probe


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(database_url, tmp_path) as built:
        yield built


Text = Callable[[World], str]


@dataclass(frozen=True)
class Aim:
    """One request aimed at alice's things."""

    method: str
    target: Text
    body: Callable[[World], Any] | None = None
    control: bool = True  # alice's own request must not be refused with 403/404
    # What a refusal may be. 400 only where the answer is the one a missing object gets
    # (the reference manager's own status for those), so it reveals nothing either.
    refusals: tuple[int, ...] = (403, 404)
    content_type: str | None = None

    def render(self, world: World) -> tuple[str, Any]:
        return self.target(world), (self.body(world) if self.body else None)


def sid(w: World) -> str:
    return w.session_id


def S(path: str) -> Text:  # noqa: N802 - reads like a path template
    return lambda w: path.format(s=w.session_id, n=w.session_name, f=w.folder_name,
                                 fid=w.folder_id, t=w.template_id, i=w.invitation_id,
                                 ak=w.key(ALICE))  # fmt: skip


MULTIPART = "multipart/form-data; boundary=b"
UPLOAD = (
    b"--b\r\nContent-Disposition: form-data; name=src; filename=planted.txt\r\n\r\n"
    b"planted\r\n--b--\r\n"
)


SESSION = "/session/{s}"
FOLDER = "/folders/{f}"
FILE_BODY = {"path": "inner"}

# Routes that take one of alice's things, with the requests that aim at it.
AIMED: dict[str, list[Aim]] = {
    "GET /session/{ref}": [
        Aim("GET", S(SESSION)),
        Aim("GET", S("/session/{n}?owner_access_key={ak}")),
    ],
    "DELETE /session/{ref}": [Aim("DELETE", S(SESSION), control=False)],
    "PATCH /session/{ref}": [Aim("PATCH", S(SESSION))],
    "POST /session/{ref}": [Aim("POST", S(SESSION), lambda w: {"mode": "query", "code": "1"})],
    "POST /session/{ref}/rename": [
        Aim("POST", S(SESSION + "/rename"), lambda w: {"name": "taken"}, control=False)
    ],
    "POST /session/{ref}/interrupt": [Aim("POST", S(SESSION + "/interrupt"))],
    "POST /session/{ref}/complete": [
        Aim("POST", S(SESSION + "/complete"), lambda w: {"code": "pri", "options": {}})
    ],
    "GET /session/{ref}/logs": [
        Aim("GET", S(SESSION + "/logs")),
        Aim("GET", S("/session/{n}/logs?owner_access_key={ak}")),
    ],
    "GET /session/_/logs": [Aim("GET", S("/session/_/logs?taskId={s}"))],
    "POST /session/{ref}/upload": [
        Aim("POST", S(SESSION + "/upload"), lambda w: UPLOAD, content_type=MULTIPART),
        Aim(
            "POST",
            S("/session/{n}/upload?owner_access_key={ak}"),
            lambda w: UPLOAD,
            content_type=MULTIPART,
        ),
    ],
    "GET /session/{ref}/download": [
        Aim("GET", S(SESSION + "/download"), lambda w: {"files": ["x"]}),
        Aim("GET", S("/session/{n}/download?owner_access_key={ak}"), lambda w: {"files": ["x"]}),
    ],
    "GET /session/{ref}/download_single": [
        Aim("GET", S(SESSION + "/download_single?file=x")),
    ],
    "GET /session/{ref}/files": [
        Aim("GET", S(SESSION + "/files")),
        Aim("GET", S("/session/{n}/files?owner_access_key={ak}")),
    ],
    "GET /stream/session/{ref}/apps": [
        Aim("GET", S("/stream/session/{s}/apps")),
        Aim("GET", S("/stream/session/{n}/apps?owner_access_key={ak}")),
    ],
    "POST /session": [
        Aim("POST", S("/session"), lambda w: _create(w, owner_access_key=w.key(ALICE))),
        Aim("POST", S("/session"), lambda w: _create(w, dependencies=[w.session_id])),
        # A folder to mount that the caller cannot reach is a bad parameter, as a missing one.
        Aim(
            "POST",
            S("/session"),
            lambda w: _create(w, config={"mounts": [w.folder_name]}),
            refusals=(400, 403, 404),
        ),
        Aim(
            "POST",
            S("/session"),
            lambda w: _create(w, config={"mounts": [w.folder_id]}),
            refusals=(400, 403, 404),
        ),
    ],
    "POST /session/_/create": [
        Aim("POST", S("/session/_/create"), lambda w: _create(w, owner_access_key=w.key(ALICE))),
    ],
    "POST /session/_/create-from-template": [
        Aim(
            "POST",
            S("/session/_/create-from-template"),
            lambda w: {"template_id": w.template_id, "name": "tpl-sess", "enqueueOnly": True},
        ),
    ],  # fmt: skip
    "GET /events/session": [Aim("GET", S("/events/session?ownerAccessKey={ak}"))],
    "GET /folders/{name}": [Aim("GET", S(FOLDER))],
    # The reference answers 400 "No such vfolder." for a name the caller cannot reach.
    "DELETE /folders/{name}": [Aim("DELETE", S(FOLDER), control=False, refusals=(400, 404))],
    "DELETE /folders": [Aim("DELETE", S("/folders"), lambda w: {"id": w.folder_id}, False)],
    "POST /folders/{name}/rename": [
        Aim("POST", S(FOLDER + "/rename"), lambda w: {"new_name": "stolen"}, control=False)
    ],
    "POST /folders/{name}/update-options": [
        Aim("POST", S(FOLDER + "/update-options"), lambda w: {"cloneable": True})
    ],
    "POST /folders/{name}/clone": [
        Aim("POST", S(FOLDER + "/clone"), lambda w: {"target_name": "copied"}, control=False),
    ],
    "POST /folders/{name}/invite": [
        Aim(
            "POST",
            S(FOLDER + "/invite"),
            lambda w: {"perm": "rw", "user_ids": [_email(BOB)]},
            control=False,
        ),
    ],  # fmt: skip
    "POST /folders/{name}/share": [
        Aim(
            "POST",
            S(FOLDER + "/share"),
            lambda w: {"permission": "rw", "emails": [_email(BOB)]},
            control=False,
        ),
    ],  # fmt: skip
    "DELETE /folders/{name}/unshare": [
        Aim("DELETE", S(FOLDER + "/unshare"), lambda w: {"emails": [_email(CAROL)]}, False)
    ],
    "POST /folders/{name}/leave": [Aim("POST", S(FOLDER + "/leave"), control=False)],
    "GET /folders/{name}/files": [Aim("GET", S(FOLDER + "/files"))],
    "POST /folders/{name}/mkdir": [Aim("POST", S(FOLDER + "/mkdir"), lambda w: {"path": "new"})],
    "POST /folders/{name}/rename-file": [
        Aim(
            "POST",
            S(FOLDER + "/rename-file"),
            lambda w: {"target_path": "inner", "new_name": "moved"},
            control=False,
        ),
    ],  # fmt: skip
    "POST /folders/{name}/rename_file": [
        Aim(
            "POST",
            S(FOLDER + "/rename_file"),
            lambda w: {"target_path": "inner", "new_name": "moved"},
            control=False,
        ),
    ],  # fmt: skip
    "POST /folders/{name}/move-file": [
        Aim(
            "POST",
            S(FOLDER + "/move-file"),
            lambda w: {"src": "inner", "dst": "elsewhere"},
            control=False,
        ),
    ],  # fmt: skip
    "DELETE /folders/{name}/delete-files": [
        Aim(
            "DELETE",
            S(FOLDER + "/delete-files"),
            lambda w: {"files": ["inner"], "recursive": True},
            control=False,
        ),
    ],  # fmt: skip
    "DELETE /folders/{name}/delete_files": [
        Aim(
            "DELETE",
            S(FOLDER + "/delete_files"),
            lambda w: {"files": ["inner"], "recursive": True},
            control=False,
        ),
    ],  # fmt: skip
    "POST /folders/{name}/request-upload": [
        Aim("POST", S(FOLDER + "/request-upload"), lambda w: {"path": "up.bin", "size": 3})
    ],
    "POST /folders/{name}/request-download": [
        Aim("POST", S(FOLDER + "/request-download"), lambda w: {"path": "inner"})
    ],
    "POST /folders/invitations/accept": [
        Aim(
            "POST",
            S("/folders/invitations/accept"),
            lambda w: {"inv_id": w.invitation_id},
            control=False,
        ),
    ],  # fmt: skip
    "DELETE /folders/invitations/delete": [
        Aim(
            "DELETE",
            S("/folders/invitations/delete"),
            lambda w: {"inv_id": w.invitation_id},
            control=False,
        ),
    ],  # fmt: skip
    "POST /folders/invitations/update/{inv_id}": [
        Aim("POST", S("/folders/invitations/update/{i}"), lambda w: {"perm": "rw"}),
    ],
    "GET /template/session/{template_id}": [
        Aim("GET", S("/template/session/{t}")),
        Aim("GET", S("/template/session/{t}?owner_access_key={ak}")),
    ],
    "PUT /template/session/{template_id}": [
        Aim("PUT", S("/template/session/{t}"), lambda w: {"payload": _template()}),
    ],
    "DELETE /template/session/{template_id}": [
        Aim("DELETE", S("/template/session/{t}"), control=False)
    ],
    "POST /template/session": [
        Aim(
            "POST",
            S("/template/session"),
            lambda w: {"payload": _template(), "owner_access_key": w.key(ALICE)},
        ),
    ],  # fmt: skip
    "GET /user-config/dotfiles": [Aim("GET", S("/user-config/dotfiles?path=.alicerc"))],
    "PATCH /user-config/dotfiles": [
        Aim(
            "PATCH",
            S("/user-config/dotfiles"),
            lambda w: {"path": ".alicerc", "data": "x", "permission": "644"},
        ),
    ],  # fmt: skip
    "DELETE /user-config/dotfiles": [
        Aim("DELETE", S("/user-config/dotfiles?path=.alicerc"), control=False)
    ],
}

# Routes that take nothing of anybody else's, and why.
UNAIMED: dict[str, str] = {
    "GET /": "public",
    "GET /auth": "the caller's own identity",
    "POST /auth": "the caller's own identity",
    "GET /auth/test": "the caller's own identity",
    "POST /auth/test": "the caller's own identity",
    "GET /auth/role": "the caller's own identity",
    "POST /auth/authorize": "credentials, checked by password",
    "POST /auth/signup": "creates a new user",
    "POST /auth/signout": "the caller's own account, checked by password",
    "POST /auth/update-password": "the caller's own account",
    "POST /auth/update-full-name": "the caller's own account",
    "GET /auth/ssh-keypair": "the caller's own keypair",
    "PATCH /auth/ssh-keypair": "the caller's own keypair",
    "POST /server/login": "credentials, checked by password",
    "POST /server/logout": "the caller's own login session",
    "GET /manager/status": "server-wide",
    "PUT /manager/status": "superadmin only",
    "GET /manager/announcement": "server-wide",
    "POST /manager/announcement": "superadmin only",
    "POST /manager/scheduler/operation": "superadmin only",
    "POST /config/get": "superadmin only (container registry settings)",
    "POST /config/set": "superadmin only (container registry settings)",
    "POST /config/delete": "superadmin only (container registry settings)",
    "GET /events/background-task": "owner-only; others get 404 (test_bai_bgtasks.py)",
    "GET /session/_/match": "a listing (test_lists_show_only_ones_own)",
    "GET /folders": "a listing (test_lists_show_only_ones_own)",
    "POST /folders": "creates the caller's own folder",
    "GET /folders/_/hosts": "server-wide",
    "GET /folders/_/all_hosts": "superadmin only",
    "GET /folders/_/all-hosts": "superadmin only",
    "GET /folders/_/allowed_types": "server-wide",
    "GET /folders/_/allowed-types": "server-wide",
    "GET /folders/_/perf-metric": "superadmin only",
    "GET /folders/_/fstab": "superadmin only",
    "GET /folders/_/mounts": "superadmin only",
    "POST /folders/_/mounts": "superadmin only",
    "DELETE /folders/_/mounts": "superadmin only",
    "GET /folders/invitations/list": "a listing (test_lists_show_only_ones_own)",
    "GET /folders/invitations/list-sent": "a listing (test_lists_show_only_ones_own)",
    "GET /folders/invitations/list_sent": "a listing (test_lists_show_only_ones_own)",
    "OPTIONS /storage/upload": "capability token (a bearer secret)",
    "HEAD /storage/upload": "capability token (a bearer secret)",
    "PATCH /storage/upload": "capability token (a bearer secret)",
    "GET /storage/download": "capability token (a bearer secret)",
    "POST /user-config/dotfiles": "creates the caller's own dotfile",
    "GET /group-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "POST /group-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "PATCH /group-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "DELETE /group-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "GET /domain-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "POST /domain-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "PATCH /domain-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "DELETE /domain-config/dotfiles": "members read, admins write (test_bai_dotfile_scopes.py)",
    "GET /template/session": "a listing (test_lists_show_only_ones_own)",
    "GET /resource/presets": "server-wide",
    "POST /resource/check-presets": "the caller's own usage",
    "POST /resource/recalculate-usage": "superadmin only",
    "GET /resource/usage/month": "superadmin only",
    "GET /resource/usage/period": "superadmin only",
    "GET /resource/inventory": "superadmin only",
    "GET /config/resource-slots": "server-wide",
    "GET /config/docker-registries": "superadmin only",
    "GET /scaling-groups": "the caller's own groups",
    "GET /scaling-groups/{name}/wsproxy-version": "server-wide",
    "POST /admin/gql": "GraphQL (test_graphql_lists_and_objects; the admin permission matrix)",
    "POST /admin/graphql": "GraphQL (test_graphql_lists_and_objects; the admin permission matrix)",
    "WS /stream/session/{ref}/execute": "WebSockets (test_websockets_refuse_others)",
    "WS /stream/session/{ref}/pty": "WebSockets (test_websockets_refuse_others)",
    "WS /stream/session/{ref}/tcpproxy": "WebSockets (test_websockets_refuse_others)",
    "WS /stream/session/{ref}/httpproxy": "WebSockets (test_websockets_refuse_others)",
}


def _email(who: str) -> str:
    from tests.support.world import EMAILS

    return EMAILS[who]


def _create(w: World, **extra: Any) -> dict[str, Any]:
    return {"name": f"s{uuid.uuid4().hex[:8]}", "image": "python", "enqueueOnly": True, **extra}


def _template() -> str:
    from tests.support.world import TEMPLATE

    return TEMPLATE.replace("alice-template", "changed")


def test_every_route_is_classified() -> None:
    registered = {str(route) for route in registered_routes()}
    aimed, unaimed = set(AIMED), set(UNAIMED)
    assert not aimed & unaimed, f"classified twice: {sorted(aimed & unaimed)}"
    unknown = sorted(registered - aimed - unaimed)
    assert not unknown, f"new routes: add them to AIMED or UNAIMED: {unknown}"
    stale = sorted((aimed | unaimed) - registered)
    assert not stale, f"no longer registered: {stale}"


async def test_others_cannot_reach_alices_things(world: World) -> None:
    failures: list[str] = []
    for route, aims in AIMED.items():
        for aim in aims:
            target, body = aim.render(world)
            for who in (BOB, DANA):
                before = await probe(world.services)
                answer = await world.request(
                    who, aim.method, target, body, content_type=aim.content_type
                )
                after = await probe(world.services)
                if answer.status not in aim.refusals:
                    failures.append(
                        f"{route} as {who}: {aim.method} {target} -> {answer.status} "
                        f"{answer.body[:200]!r}"
                    )
                if changed := diff(before, after):
                    failures.append(f"{route} as {who}: {aim.method} {target} changed {changed}")
    for route, aims in AIMED.items():
        for aim in aims:
            if not aim.control:
                continue
            target, body = aim.render(world)
            answer = await world.request(
                ALICE, aim.method, target, body, content_type=aim.content_type
            )
            if answer.status in (403, 404) or answer.status >= 500:
                failures.append(
                    f"control {route}: alice's own {aim.method} {target} -> {answer.status} "
                    f"{answer.body[:200]!r}"
                )
    assert not failures, "\n".join(failures)


def _mentions_alice(world: World, data: bytes) -> bool:
    text = data.decode("utf-8", "replace")
    return any(
        needle in text
        for needle in (
            world.session_id,
            world.session_name,
            world.folder_id,
            world.folder_name,
            world.template_id,
            world.invitation_id,
            world.key(ALICE),
            ".alicerc",
        )
    )


LISTS = [
    "/folders",
    "/folders?all=true",
    "/folders/invitations/list",
    "/folders/invitations/list-sent",
    "/template/session",
    "/template/session?all=true",
    "/user-config/dotfiles",
    "/session/_/match?id={s8}",
    "/session/_/match?id=alice",
    "/scaling-groups",
]


async def test_lists_show_only_ones_own(world: World) -> None:
    failures: list[str] = []
    for who in (BOB, DANA):
        for template in LISTS:
            target = template.format(s8=world.session_id[:8])
            answer = await world.request(who, "GET", target)
            if answer.status >= 500 or _mentions_alice(world, answer.body):
                failures.append(f"{who} GET {target} -> {answer.status} {answer.body[:300]!r}")
    # Controls: alice sees her own things in the same lists.
    own = (
        "/folders",
        "/template/session",
        "/user-config/dotfiles",
        "/folders/invitations/list-sent",
    )  # noqa: E501
    for target in own:
        answer = await world.request(ALICE, "GET", target)
        assert _mentions_alice(world, answer.body), (target, answer.body[:300])
    assert not failures, "\n".join(failures)


GQL_LISTS = [
    "query { compute_session_list(limit: 100, offset: 0) { items { id name access_key } total_count } }",  # noqa: E501
    'query { compute_session_list(limit: 100, offset: 0, domain_name: "default") { items { id name } } }',  # noqa: E501
    'query { compute_session_list(limit: 100, offset: 0, access_key: "{ak}") { items { id name } } }',  # noqa: E501
    'query { compute_session(id: "{s}") { id name } }',
    "query { vfolder_list(limit: 100, offset: 0) { items { id name } total_count } }",
    'query { vfolder_list(limit: 100, offset: 0, domain_name: "default") { items { id name } } }',
    'query { keypair(access_key: "{ak}") { access_key secret_key } }',
    'query { keypairs(email: "alice@default.test") { access_key secret_key } }',
    "query { keypair_list(limit: 100, offset: 0) { items { access_key } } }",
    'query { user(email: "alice@default.test") { email } }',
    "query { user_list(limit: 100, offset: 0) { items { email } } }",
]


async def test_graphql_lists_and_objects(world: World) -> None:
    failures: list[str] = []
    for who in (BOB, DANA):
        for template in GQL_LISTS:
            query = template.replace("{ak}", world.key(ALICE)).replace("{s}", world.session_id)
            for path in ("/admin/gql", "/admin/graphql"):
                answer = await world.request(who, "POST", path, {"query": query})
                if answer.status >= 500 or _mentions_alice(world, answer.body):
                    failures.append(
                        f"{who} {path} {query} -> {answer.status} {answer.body[:300]!r}"
                    )
    # Control: the superadmin does see alice's session and folder.
    answer = await world.request(SUPER, "POST", "/admin/gql", {"query": GQL_LISTS[0]})
    assert world.session_id in answer.body.decode()
    answer = await world.request(SUPER, "POST", "/admin/gql", {"query": GQL_LISTS[4]})
    assert world.folder_name in answer.body.decode()
    assert not failures, "\n".join(failures)


async def test_event_streams_show_only_ones_own(world: World) -> None:
    """Bob (all his events, or one of alice's sessions by id) and dana see nothing of a new
    session of alice's, which alice's own stream does show."""
    watchers = {
        "bob-all": (BOB, "/events/session"),
        "bob-by-id": (BOB, f"/events/session?sessionId={world.session_id}"),
        "bob-by-name": (BOB, f"/events/session?sessionName={world.session_name}"),
        "dana-all": (DANA, "/events/session"),
        "dana-by-id": (DANA, f"/events/session?sessionId={world.session_id}"),
        "alice": (ALICE, "/events/session"),
    }

    async def watch(who: str, target: str) -> bytes:
        headers = world.signers[who].headers("GET", target)
        answer = await call(world.app, "GET", target, headers, stream_seconds=1.5)
        assert answer.status == 200, (who, target, answer.status, answer.body[:300])
        return answer.body

    tasks = {name: asyncio.create_task(watch(*spec)) for name, spec in watchers.items()}
    await asyncio.sleep(0.3)
    await world.ok(ALICE, "PATCH", f"/session/{world.session_id}")  # restart: events
    await world.ok(
        ALICE, "POST", "/session", {"name": "alice-new", "image": "python", "enqueueOnly": True}
    )
    await world.services.lifecycle.schedule_pass()
    bodies = {name: await task for name, task in tasks.items()}
    assert b"alice-new" in bodies["alice"], bodies["alice"][:500]
    leaks = {
        name: body[:300]
        for name, body in bodies.items()
        if name != "alice" and (b"alice-new" in body or world.session_id.encode() in body)
    }
    assert not leaks, leaks


WS_PATHS = ["execute", "pty", "tcpproxy", "httpproxy"]


async def test_websockets_refuse_others(world: World) -> None:
    failures: list[str] = []
    for kind in WS_PATHS:
        for who in (BOB, DANA):
            for target in (
                f"/stream/session/{world.session_id}/{kind}?app=jupyter",
                f"/stream/session/{world.session_name}/{kind}"
                f"?app=jupyter&owner_access_key={world.key(ALICE)}",
            ):
                headers = world.signers[who].headers("GET", target)
                answer = await websocket(
                    world.app, target, headers, first_frame='{"mode": "query", "code": "1"}'
                )
                if answer.accepted or answer.status not in (403, 404) or answer.error:
                    failures.append(
                        f"{who} WS {target}: accepted={answer.accepted} status={answer.status} "
                        f"close={answer.close_code} error={answer.error!r} frames={answer.frames[:2]}"  # noqa: E501
                    )
        # Control: alice's own execute socket is accepted.
    target = f"/stream/session/{world.session_id}/execute"
    answer = await websocket(
        world.app, target, world.signers[ALICE].headers("GET", target),
        first_frame='{"mode": "query", "code": "1"}',
    )  # fmt: skip
    assert answer.accepted, answer
    assert not failures, "\n".join(failures)
