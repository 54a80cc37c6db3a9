"""How every mutation answers: ``{ok, msg, <item>}``.

A business failure is ``ok: false`` with the reason; a caller lacking the role gets
``ok: false, msg: "no permission to execute <field>"`` (no GraphQL error), as the reference
manager answers. While the manager is frozen every mutation fails with a GraphQL error.
"""

from __future__ import annotations

import ast
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from hangar.api.bai.graphql.context import Info
from hangar.api.bai.wording import message_of
from hangar.core.errors import Forbidden, HangarError, InvalidRequest, ServerFrozen
from hangar.core.manager.service import ManagerStatus

T = TypeVar("T")


@strawberry.type(description="The answer of a mutation without an item.")
class SimpleResult:
    ok: bool | None
    msg: str | None


async def attempt(
    info: Info, field: str, action: Callable[[], Awaitable[T]]
) -> tuple[bool, str, T | None]:
    """Run a mutation's action: (ok, msg, result). Raises ServerFrozen while frozen."""
    if await info.context.services.manager.status() == ManagerStatus.FROZEN:
        raise ServerFrozen()
    try:
        result = await action()
    except Forbidden:
        return False, f"no permission to execute {field}", None
    except HangarError as exc:
        return False, message_of(exc), None
    return True, "success", result


async def simple(info: Info, field: str, action: Callable[[], Awaitable[Any]]) -> SimpleResult:
    ok, msg, _ = await attempt(info, field, action)
    return SimpleResult(ok=ok, msg=msg)


def host_list(values: list[str | None] | None) -> list[str] | None:
    """A list of host names; the official CLI may send ``"['local']"`` (one string)."""
    if values is None:
        return None
    hosts: list[str] = []
    for value in values:
        if value is None:
            continue
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            if isinstance(parsed, list | tuple):
                hosts.extend(str(p) for p in parsed)
                continue
        if text:
            hosts.append(text)
    return hosts


def json_object(value: Any, name: str) -> dict[str, Any] | None:
    """A JSONString input that must hold an object (``"null"`` and null mean unset)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name} must be a JSON object")
    return value
