"""``hangar admin usage``, ``hangar admin price ...`` and ``hangar admin limit ...``: cost per
user and project over a period, the price table, daily cost limits (on the data dir's
database, like the other ``hangar admin`` commands)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hangar.cli.admin import JsonOpt, _with_services
from hangar.cli.render import console, emit, fail
from hangar.core.billing.models import DailyLimit, LimitScope, Prices, Usage, UsageLine
from hangar.core.errors import InvalidRequest
from hangar.util.gputypes import gpu_type

if TYPE_CHECKING:
    from hangar.core.services import Services

price_app = typer.Typer(
    help="Prices per hour: GPU types, CPU cores, GiB of memory and of storage.",
    no_args_is_help=True,
)
limit_app = typer.Typer(help="Daily cost limits per user or project.", no_args_is_help=True)

USAGE_COLUMNS = ["cost", "gpu_hours", "cpu_core_hours", "storage_gib_hours", "items"]
KEYS = {"cpu": "a CPU core", "memory": "a GiB of memory", "storage": "a GiB of storage"}


def register(admin: typer.Typer) -> None:
    """Add the commands to ``hangar admin``."""
    admin.command("usage")(usage)
    admin.add_typer(price_app, name="price")
    admin.add_typer(limit_app, name="limit")


def _when(text: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: expected a date or time such as 2026-03-01 or 2026-03-01T12:00")
        raise typer.Exit(2) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _amount(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        fail(f"{what}: expected an amount >= 0, got {text!r}")
        raise typer.Exit(2)
    return value


def usage(
    start: Annotated[
        str | None,
        typer.Option("--from", "--start", help="Start (UTC date or time; default: today 00:00)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", "--end", help="End, exclusive (default: now).")
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="The last N days up to now.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Cost per user and per project over a period, from actual running time and storage."""
    now = datetime.now(UTC)
    begin = (
        _when(start, "--from")
        if start is not None
        else now - timedelta(days=days)
        if days is not None
        else now.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    stop = _when(end, "--to") if end is not None else None
    report: Usage = _with_services(lambda s: s.billing.usage(begin, stop))
    if as_json:
        print(json.dumps(_usage_record(report), indent=2))
        return
    period = f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC"
    for title, lines, who in (
        ("Usage per user", report.by_user, "user"),
        ("Usage per project", report.by_project, "project"),
    ):
        rows = [(line.label, *_figures(line)) for line in lines]
        emit(f"{title}, {period} ({report.currency})", [who, *USAGE_COLUMNS], rows, as_json=False)
    console.print(f"Total: {report.total} {report.currency}", highlight=False)


def _figures(line: UsageLine) -> tuple[str, str, str, str, int]:
    return (
        str(line.cost),
        str(line.gpu_hours),
        str(line.cpu_core_hours),
        str(line.storage_gib_hours),
        line.items,
    )


def _usage_record(report: Usage) -> dict[str, Any]:
    def lines(found: tuple[UsageLine, ...], who: str) -> list[dict[str, Any]]:
        return [
            {
                who: line.label,
                "id": str(line.subject),
                **dict(zip(USAGE_COLUMNS, _figures(line), strict=True)),
            }
            for line in found
        ]

    return {
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "currency": report.currency,
        "total": str(report.total),
        "users": lines(report.by_user, "user"),
        "projects": lines(report.by_project, "project"),
    }


def _price_key(name: str) -> str:
    lowered = name.strip().lower()
    if lowered in KEYS:
        return lowered
    code = name.strip().removeprefix("gpu:")
    if not code:
        fail("name a price: cpu, memory, storage or a GPU type such as NVIDIA_H100_80G")
        raise typer.Exit(2)
    return f"gpu:{code}"


async def _price_rows(services: Services) -> tuple[Prices, list[str]]:
    prices = await services.billing.prices()
    seen = {gpu_type(g.model, g.memory_bytes).code for g in await services.accelerators.groups()}
    return prices, sorted(seen | set(prices.gpu))


@price_app.command("show")
def price_show(as_json: JsonOpt = False) -> None:
    """The price table; GPU types of the live agents are listed even when unpriced (0)."""
    prices, codes = _with_services(_price_rows)
    rows: list[tuple[str, str, str]] = [
        ("cpu", str(prices.cpu_core), "per CPU core-hour"),
        ("memory", str(prices.memory_gib), "per GiB-hour of memory"),
        ("storage", str(prices.storage_gib), "per GiB-hour of storage"),
    ]
    rows += [(code, str(prices.gpu.get(code, 0)), "per device-hour") for code in codes]
    emit(f"Prices ({prices.currency})", ["price", "per_hour", "unit"], rows, as_json=as_json)


@price_app.command("set")
def price_set(
    name: Annotated[str, typer.Argument(help="cpu, memory, storage or a GPU type code.")],
    per_hour: Annotated[str, typer.Argument(help="The price per hour, e.g. 2.49.")],
) -> None:
    """Set a price; what runs now is charged at it from now on."""
    key, amount = _price_key(name), _amount(per_hour, "price")
    _with_services(lambda s: s.billing.set_price(key, amount))
    console.print(f"Price {key.removeprefix('gpu:')} is {amount} per hour.", highlight=False)


@price_app.command("unset")
def price_unset(name: Annotated[str, typer.Argument(help="The price to remove (0).")]) -> None:
    """Remove a price: that resource costs nothing from now on."""
    key = _price_key(name)
    _with_services(lambda s: s.billing.set_price(key, None))
    console.print(f"Price {key.removeprefix('gpu:')} is removed.", highlight=False)


UserOpt = Annotated[str | None, typer.Option("--user", help="The user's email.")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="The project's name.")]
DomainOpt = Annotated[str | None, typer.Option("--domain", help="The project's domain.")]


async def _subject(
    services: Services, user: str | None, project: str | None, domain: str | None
) -> tuple[LimitScope, uuid.UUID]:
    if (user is None) == (project is None):
        raise InvalidRequest("name either --user EMAIL or --project NAME")
    if user is not None:
        return LimitScope.USER, await services.billing.resolve(email=user)
    return LimitScope.PROJECT, await services.billing.resolve(project=project, domain=domain)


@limit_app.command("set")
def limit_set(
    amount: Annotated[str, typer.Argument(help="The most a day (UTC) may cost.")],
    user: UserOpt = None,
    project: ProjectOpt = None,
    domain: DomainOpt = None,
    automatic: Annotated[
        bool,
        typer.Option("--automatic", help="Also pause the running pods once it is reached."),
    ] = False,
) -> None:
    """Set a daily cost limit: once a day's cost reaches it, new pods, VMs, volumes and
    sessions are refused until 00:00 UTC (and, with --automatic, running pods are paused)."""
    value = _amount(amount, "limit")

    async def apply(services: Services) -> tuple[LimitScope, uuid.UUID]:
        scope, subject = await _subject(services, user, project, domain)
        await services.billing.set_limit(DailyLimit(scope, subject, value, automatic))
        return scope, subject

    scope, _ = _with_services(apply)
    who = user if user is not None else project
    mode = " (running pods are paused when reached)" if automatic else ""
    console.print(f"Daily limit of {scope.value} {who}: {value}{mode}.", highlight=False)


@limit_app.command("unset")
def limit_unset(user: UserOpt = None, project: ProjectOpt = None, domain: DomainOpt = None) -> None:
    """Remove a daily cost limit."""

    async def apply(services: Services) -> bool:
        scope, subject = await _subject(services, user, project, domain)
        return await services.billing.remove_limit(scope, subject)

    removed = _with_services(apply)
    console.print("Limit removed." if removed else "There was no such limit.")


@limit_app.command("show")
def limit_show(as_json: JsonOpt = False) -> None:
    """The daily limits and what each user or project has spent today."""

    async def rows(services: Services) -> list[tuple[str, str, str, str, bool]]:
        found: list[DailyLimit] = await services.billing.limits()
        out = []
        for lim in found:
            key = "user_uuid" if lim.scope.value == "user" else "group_id"
            spent = await services.billing.spent_today(**{key: lim.subject})
            out.append((lim.scope.value, lim.label, str(lim.amount), str(spent), lim.automatic))
        return out

    columns = ["scope", "who", "daily_limit", "spent_today", "automatic"]
    emit("Daily cost limits", columns, _with_services(rows), as_json=as_json)
