"""Scalars of the Backend.AI schema beyond GraphQL's own: JSONString and BigInt.

``UUID`` and ``DateTime`` (ISO-8601) are Strawberry's built-in scalars of those names.
A ``JSONString`` goes out as a JSON-*encoded string* (the CLI ``json.loads`` it) and comes in
as text (``"{}"``, ``"null"``) or, leniently, as an object.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, NewType

import orjson
import strawberry
from strawberry.types.scalar import ScalarDefinition

JSONString = NewType("JSONString", object)
BigInt = NewType("BigInt", int)

MAX_SAFE_INTEGER = 2**53


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def serialize_json(value: Any) -> str:
    if isinstance(value, str):
        return value  # already encoded
    return json.dumps(value, default=_default)


def parse_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value) if value.strip() else None  # no lone surrogates
        except ValueError as exc:
            raise ValueError(f"not a JSON text: {value[:40]!r}") from exc
    return value


def serialize_bigint(value: Any) -> int:
    number = int(value)
    if abs(number) > MAX_SAFE_INTEGER:
        raise ValueError("BigInt out of range (±2^53)")
    return number


def parse_bigint(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt cannot represent a boolean")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("BigInt cannot represent a fraction")
    number = int(value)
    if abs(number) > MAX_SAFE_INTEGER:
        raise ValueError("BigInt out of range (±2^53)")
    return number


SCALARS: dict[object, ScalarDefinition] = {
    JSONString: strawberry.scalar(
        name="JSONString",
        description="A JSON value encoded as a string.",
        serialize=serialize_json,
        parse_value=parse_json,
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer within ±2^53.",
        serialize=serialize_bigint,
        parse_value=parse_bigint,
    ),
}


def as_json(value: Any) -> JSONString:
    return JSONString(value)


def as_json_or_none(value: Any) -> JSONString | None:
    return None if value is None else JSONString(value)
