"""`hangar.client`'s administration and sharing calls against a live `hangar server`: the
GraphQL-based KeyPair, Agent, ScalingGroup and Admin calls, Manager freeze and scheduler
operations, storage host calls, and virtual folders shared between two users."""

from __future__ import annotations

from typing import Any

import pytest

from hangar.client import APIConfig, AsyncSession, BackendAPIError, Session
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

BOB = "bob@example.com"


def config_of(server: LiveServer, **overrides: object) -> APIConfig:
    values: dict[str, object] = {
        "endpoint": server.endpoint, "access_key": server.access_key,
        "secret_key": server.secret_key,
    }  # fmt: skip
    values.update(overrides)
    return APIConfig(**values)  # type: ignore[arg-type]


def add_user(session: Any, email: str) -> APIConfig:
    """A new user with a keypair of its own (its config), made through GraphQL and KeyPair."""
    made = session.Admin.query(
        "mutation($e: String!, $p: UserInput!) { create_user(email: $e, props: $p) { ok msg } }",
        {"e": email, "p": {"password": "a-good-password", "username": email.split("@")[0]}},
    )
    assert made["create_user"]["ok"], made
    issued = session.KeyPair.create(email)
    assert issued["ok"], issued
    keypair = issued["keypair"]
    config: APIConfig = config_of_session(session, keypair["access_key"], keypair["secret_key"])
    return config


def config_of_session(session: Any, access_key: str, secret_key: str) -> APIConfig:
    return APIConfig(endpoint=session.config.endpoint, access_key=access_key, secret_key=secret_key)


def refused(call: Any, *args: Any, **kwargs: Any) -> BackendAPIError:
    with pytest.raises(BackendAPIError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_keypairs_agents_scaling_groups_and_manager(live_server: LiveServer) -> None:
    with Session(config=config_of(live_server)) as admin:
        bob_config = add_user(admin, BOB)
        bob_key = bob_config.access_key
        listed = {k["access_key"]: k for k in admin.KeyPair.list()}
        assert listed[bob_key]["user_id"] == BOB and not listed[bob_key]["is_admin"]
        assert [k["access_key"] for k in admin.KeyPair.list(BOB)] == [bob_key]
        page = admin.KeyPair.paginated_list(page_size=1)
        assert page["total_count"] == 2 and len(page["items"]) == 1
        assert admin.KeyPair(admin.config.access_key).info()["is_admin"] is True
        assert admin.KeyPair.update(bob_key, rate_limit=100)["ok"]
        assert admin.KeyPair.deactivate(bob_key)["ok"]
        assert admin.KeyPair(bob_key).info()["is_active"] is False
        with Session(config=bob_config) as bob:  # an inactive keypair is refused
            assert refused(bob.VFolder.list).status == 401
        assert admin.KeyPair.activate(bob_key)["ok"]

        agents = admin.Agent.paginated_list()
        assert agents["total_count"] == 1
        agent_id = agents["items"][0]["id"]
        detail = admin.Agent.detail(agent_id)
        assert detail["id"] == agent_id and detail["status"] == "ALIVE"

        assert [g["name"] for g in admin.ScalingGroup.list_available("default")] == ["default"]
        assert "default" in [g["name"] for g in admin.ScalingGroup.list()]
        assert admin.ScalingGroup.detail("default")["scheduler"] == "fifo"
        made = admin.ScalingGroup.create("gpu-nodes", description="GPU nodes")
        assert made["ok"] and made["scaling_group"]["name"] == "gpu-nodes"
        assert admin.ScalingGroup.update("gpu-nodes", description="changed")["ok"]
        assert admin.ScalingGroup.detail("gpu-nodes")["description"] == "changed"
        group_id = admin.Admin.query("{ groups { id name } }")["groups"][0]["id"]
        assert admin.ScalingGroup.associate_domain("gpu-nodes", "default")["ok"]
        assert admin.ScalingGroup.associate_group("gpu-nodes", group_id)["ok"]
        available = [g["name"] for g in admin.ScalingGroup.list_available("default")]
        assert sorted(available) == ["default", "gpu-nodes"]
        assert admin.ScalingGroup.dissociate_group("gpu-nodes", group_id)["ok"]
        assert admin.ScalingGroup.dissociate_domain("gpu-nodes", "default")["ok"]
        assert [g["name"] for g in admin.ScalingGroup.list_available("default")] == ["default"]
        assert admin.ScalingGroup.delete("gpu-nodes")["ok"]

        assert admin.Manager.status()["status"] == "running"
        admin.Manager.freeze()
        assert admin.Manager.status()["status"] == "frozen"
        frozen = refused(admin.ComputeSession.get_or_create, "python", name="while-frozen")
        assert frozen.status == 503
        admin.Manager.unfreeze()
        assert admin.Manager.status()["status"] == "running"
        admin.Manager.scheduler_op("exclude-agents", [agent_id])
        admin.Manager.scheduler_op("include-agents", [agent_id])
        bad = refused(admin.Manager.scheduler_op, "shuffle-agents", [agent_id])
        assert bad.status == 400 and "shuffle-agents" in bad.data["msg"]

        with Session(config=bob_config) as bob:
            assert refused(bob.Manager.freeze).status == 401
            assert refused(bob.Manager.scheduler_op, "exclude-agents", [agent_id]).status == 401
            listing = refused(bob.ScalingGroup.list)
            assert listing.data["type"].endswith("graphql-error")
            assert "Superadmin privilege required." in str(listing.data["data"])
            mutated = bob.ScalingGroup.create("mine")  # mutations answer ok: false
            assert not mutated["ok"] and "no permission" in mutated["msg"]
            assert [k["access_key"] for k in bob.KeyPair.list()] == [bob_key]
        assert admin.KeyPair.delete(bob_key)["ok"]
        assert bob_key not in [k["access_key"] for k in admin.KeyPair.list()]


def test_vfolder_sharing_between_two_users(live_server: LiveServer) -> None:
    with Session(config=config_of(live_server)) as admin:
        bob_config = add_user(admin, BOB)
        hosts = admin.VFolder.list_all_hosts()
        assert hosts["default"] in hosts["allowed"]
        host = hosts["default"]
        assert "content" in admin.VFolder.get_fstab_contents()
        assert "metric" in admin.VFolder.get_performance_metric(host)
        assert admin.VFolder.list_mounts()["manager"]["success"] is True
        assert sorted(admin.VFolder.list_allowed_types()) == ["group", "user"]

        admin.VFolder.create("shared1", host, cloneable=True)
        assert admin.VFolder("shared1").invite("ro", [BOB])["invited_ids"] == [BOB]
        group_id = admin.Admin.query("{ groups { id name } }")["groups"][0]["id"]
        admin.VFolder.create("teamdata", host, group=group_id)

    with Session(config=bob_config) as bob:
        pending = bob.VFolder.invitations()["invitations"]
        assert [(i["vfolder_name"], i["perm"]) for i in pending] == [("shared1", "ro")]
        bob.VFolder.accept_invitation(pending[0]["id"])
        mine = {f["name"]: f for f in bob.VFolder.list()}
        assert mine["shared1"]["permission"] == "ro" and not mine["shared1"]["is_owner"]
        assert bob.VFolder("shared1").info()["name"] == "shared1"
        cloned = bob.VFolder("shared1").clone("bobcopy")
        assert cloned["name"] == "bobcopy"
        bob.VFolder("shared1").leave()
        assert sorted(f["name"] for f in bob.VFolder.list()) == ["bobcopy", "teamdata"]
        missing = refused(bob.VFolder("shared1").info)
        assert missing.status == 404
        # storage host administration is for superadmins
        for call, args in ((bob.VFolder.list_all_hosts, ()), (bob.VFolder.get_fstab_contents,
                           ()), (bob.VFolder.list_mounts, ())):  # fmt: skip
            assert refused(call, *args).status == 401

    with Session(config=config_of(live_server)) as admin:
        admin.VFolder("shared1").invite("rw", [BOB])
        admin.VFolder("shared1").update_options("shared1", permission="ro", cloneable=False)
        options = admin.VFolder("shared1").info()
        assert options["cloneable"] is False
        assert admin.VFolder("teamdata").share("ro", [BOB]) == {"shared_emails": [BOB]}
        personal = refused(admin.VFolder("shared1").share, "ro", [BOB])  # invite instead
        assert personal.status == 404
        assert personal.title == "Only project folders are directly sharable."

    with Session(config=bob_config) as bob:
        pending = bob.VFolder.invitations()["invitations"]
        assert [i["vfolder_name"] for i in pending] == ["shared1"]
        bob.VFolder.delete_invitation(pending[0]["id"])
        assert bob.VFolder.invitations()["invitations"] == []
        team = {f["name"]: f for f in bob.VFolder.list()}["teamdata"]
        assert team["permission"] == "ro"

    with Session(config=config_of(live_server)) as admin:
        assert admin.VFolder("teamdata").unshare([BOB]) == {"unshared_emails": [BOB]}
        for name in ("shared1", "teamdata"):
            admin.VFolder(name).delete()


async def test_admin_calls_in_an_async_session(live_server: LiveServer) -> None:
    async with AsyncSession(config=config_of(live_server)) as admin:
        data = await admin.Admin.query("query { agents { id status } }")
        assert [a["status"] for a in data["agents"]] == ["ALIVE"]
        page = await admin.Agent.paginated_list()
        assert page["items"][0]["id"] == data["agents"][0]["id"]
        with pytest.raises(BackendAPIError) as bad:
            await admin.Admin.query("query { no_such_field }")
        assert bad.value.data["type"].endswith("graphql-error")
        await admin.Manager.freeze()
        assert (await admin.Manager.status())["status"] == "frozen"
        await admin.Manager.unfreeze()
        assert (await admin.KeyPair(admin.config.access_key).info())["is_admin"] is True
