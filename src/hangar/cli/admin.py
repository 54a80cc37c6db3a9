"""``hangar admin``: local administration, straight on the database of a data dir."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from hangar.cli.render import console, emit, err_console, fail
from hangar.core.errors import HangarError
from hangar.core.principal import Role

if TYPE_CHECKING:  # the services are imported on use: client commands should start fast
    from hangar.core.services import Services

T = TypeVar("T")

app = typer.Typer(
    help="Administer users and keypairs of a local Hangar data dir.", no_args_is_help=True
)
keypair_app = typer.Typer(help="Keypairs (access key + secret key).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
app.add_typer(keypair_app, name="keypair")
app.add_typer(user_app, name="user")
clearml_app = typer.Typer(help="ClearML credentials (Hangar keypairs).", no_args_is_help=True)
app.add_typer(clearml_app, name="clearml")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _with_services(action: Callable[[Services], Awaitable[T]]) -> T:
    from hangar.core.services import open_services
    from hangar.settings import load_settings

    settings = load_settings()
    # Beside a running server the database allows it; a wrong HANGAR_DATA_DIR must not
    # silently create (and administer) an empty installation.
    if not settings.data_dir.is_dir():
        fail(
            f"no Hangar data dir at {settings.data_dir}: start `hangar server` there first, "
            "or set HANGAR_DATA_DIR to an existing one"
        )
        raise typer.Exit(1)
    err_console.print(f"hangar admin: data dir {settings.data_dir}", highlight=False)

    async def main() -> T:
        services = await open_services(settings, run_bootstrap=False)
        try:
            return await action(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except HangarError as exc:
        fail(exc.message)
        raise typer.Exit(1) from exc


@keypair_app.command("create")
def keypair_create(
    email: Annotated[str, typer.Option(help="Owner's email.")],
    admin: Annotated[bool, typer.Option("--admin", help="Grant the admin flag.")] = False,
    resource_policy: Annotated[str, typer.Option(help="Keypair resource policy.")] = "default",
    rate_limit: Annotated[int | None, typer.Option(help="Requests per 15 minutes.")] = None,
) -> None:
    """Issue a keypair; its secret key is printed this once."""
    issued = _with_services(
        lambda s: s.identity.issue_keypair(
            email=email, is_admin=admin, resource_policy=resource_policy, rate_limit=rate_limit
        )
    )
    console.print(f"Access key: {issued.keypair.access_key}")
    console.print(f"Secret key: {issued.secret_key}")


@keypair_app.command("list")
def keypair_list(
    email: Annotated[str | None, typer.Option(help="Only this user's keypairs.")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    as_json: JsonOpt = False,
) -> None:
    keypairs = _with_services(lambda s: s.identity.list_keypairs(email=email, is_active=active))
    rows = [
        (
            k.access_key,
            k.user_email,
            k.is_active,
            k.is_admin,
            k.resource_policy,
            k.rate_limit,
            k.num_queries,
            k.created_at.isoformat(),
            k.last_used.isoformat() if k.last_used else None,
        )
        for k in keypairs
    ]
    columns = [
        "access_key",
        "user",
        "is_active",
        "is_admin",
        "resource_policy",
        "rate_limit",
        "num_queries",
        "created_at",
        "last_used",
    ]
    emit("Keypairs", columns, rows, as_json=as_json)


@keypair_app.command("activate")
def keypair_activate(access_key: str) -> None:
    _with_services(lambda s: s.identity.set_keypair_active(access_key, True))
    console.print(f"Keypair {access_key} is active.")


@keypair_app.command("deactivate")
def keypair_deactivate(access_key: str) -> None:
    """Refuse the keypair from now on (running servers notice within a second)."""
    _with_services(lambda s: s.identity.set_keypair_active(access_key, False))
    console.print(f"Keypair {access_key} is inactive.")


@keypair_app.command("delete")
def keypair_delete(access_key: str) -> None:
    _with_services(lambda s: s.identity.delete_keypair(access_key))
    console.print(f"Keypair {access_key} deleted.")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[Role, typer.Option(case_sensitive=False)] = Role.USER,
    domain: Annotated[str, typer.Option()] = "default",
    group: Annotated[str, typer.Option()] = "default",
    full_name: Annotated[str, typer.Option()] = "",
    with_keypair: Annotated[bool, typer.Option("--keypair/--no-keypair")] = True,
) -> None:
    """Create a user (and, by default, a keypair whose secret is printed once)."""

    async def action(s: Services) -> str | None:
        await s.identity.create_user(
            email=email,
            password=password,
            role=role,
            domain_name=domain,
            group_name=group,
            full_name=full_name,
        )
        if not with_keypair:
            return None
        admin = role in (Role.ADMIN, Role.SUPERADMIN)
        issued = await s.identity.issue_keypair(email=email, is_admin=admin)
        return f"Access key: {issued.keypair.access_key}\nSecret key: {issued.secret_key}"

    keys = _with_services(action)
    console.print(f"User {email} created.")
    if keys:
        console.print(keys)


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    users = _with_services(lambda s: s.identity.list_users())
    rows = [
        (
            str(u.uuid),
            u.email,
            u.role.value,
            u.status.value,
            u.domain_name,
            u.created_at.isoformat(),
        )
        for u in users
    ]
    emit(
        "Users", ["uuid", "email", "role", "status", "domain", "created_at"], rows, as_json=as_json
    )


@clearml_app.command("credentials")
def clearml_credentials(
    email: Annotated[str, typer.Option(help="The user the credentials are for.")],
    conf: Annotated[
        Path | None, typer.Option(help="Also write a ready clearml.conf (mode 0600) here.")
    ] = None,
) -> None:
    """Issue ClearML credentials for a user (a keypair); the secret is printed this once,
    with the CLEARML_* lines for this server."""
    from hangar.cli import clientconfig
    from hangar.settings import load_settings

    issued = _with_services(lambda s: s.identity.issue_keypair(email=email))
    settings = load_settings()
    written = clientconfig.read(settings.resolved_client_config_path)
    endpoint = written.endpoint if written else settings.server.url_for_clients()
    config = clientconfig.ClientConfig(
        endpoint, issued.keypair.access_key, issued.secret_key, str(settings.data_dir)
    )
    console.print(f"Access key: {issued.keypair.access_key}")
    console.print(f"Secret key: {issued.secret_key}")
    console.print(
        "\n".join(line for line in config.to_env().splitlines() if "CLEARML_" in line),
        highlight=False,
        soft_wrap=True,
    )
    if conf is not None:
        clientconfig.write_clearml_conf(conf, config)
        console.print(f"Wrote {conf}", highlight=False)


apikey_app = typer.Typer(
    help="GPU-cloud API keys (X-Api-Key, YOTTA_API_KEY).", no_args_is_help=True
)
app.add_typer(apikey_app, name="apikey")


@apikey_app.command("create")
def apikey_create(
    email: Annotated[str, typer.Option(help="Owner's email.")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")] = "",
) -> None:
    """Create an API key for the GPU-cloud face; the key is printed this once."""
    created = _with_services(lambda s: s.apikeys.create(email=email, name=name))
    console.print(f"API key id: {created.key.id}", highlight=False)
    console.print(f"API key: {created.secret}", highlight=False)


@apikey_app.command("ls")
def apikey_list(
    email: Annotated[str | None, typer.Option(help="Only this user's keys.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The keys (their first characters only: the keys themselves are not stored)."""
    keys = _with_services(lambda s: s.apikeys.listed())
    rows = [
        (k.id, k.email, k.name, k.prefix + "…", k.active, k.created_at.isoformat())
        for k in keys
        if email is None or k.email == email
    ]
    columns = ["id", "user", "name", "prefix", "active", "created_at"]
    emit("API keys", columns, rows, as_json=as_json)


@apikey_app.command("revoke")
def apikey_revoke(key_id: int) -> None:
    """Refuse the key from now on."""
    _with_services(lambda s: s.apikeys.revoke(key_id))
    console.print(f"API key {key_id} is revoked.")
