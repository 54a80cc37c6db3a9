"""Filters, orderings and pages of the core's lists, compiled to SQL.

A face parses its own filter language (Backend.AI's mini-language, ClearML's query
documents) into the small tree here: :class:`Compare` (a field, an :class:`Op`, a value),
:class:`And`, :class:`Or`, :class:`Not`, and an ordering as a list of :class:`OrderBy`. Each
list names the fields it exposes (:class:`Field`: a column and a converter for values);
:func:`compile_filter` and :func:`compile_order` raise :class:`~hangar.core.errors.UnknownField`
or :class:`~hangar.core.errors.InvalidFilterValue` for anything else, for the face to word.
Lists kept as documents rather than rows (tracking's tasks and models) evaluate the same tree
in memory (:mod:`hangar.core.tracking.query`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from dateutil.parser import isoparse
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, not_, or_, true
from sqlalchemy.exc import ArgumentError

from hangar.core.errors import InvalidFilterValue, InvalidRequest, UnknownField

T = TypeVar("T")

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One slice of a list and the number of matches before slicing."""

    items: list[T]
    total_count: int


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise InvalidRequest("limit and offset must not be negative")
    if limit > MAX_PAGE_SIZE:
        raise InvalidRequest(f"limit must not exceed {MAX_PAGE_SIZE}")


# The tree ---------------------------------------------------------------------------------


class Op(enum.Enum):
    """How a field is compared with a value. ``EQ``/``NE`` with ``None`` test for null;
    ``IN`` takes a list; ``CONTAINS`` a substring, ``LIKE``/``ILIKE`` an SQL pattern,
    ``REGEX`` a regular expression (searched, not anchored). ``HAS``: the field's value, or
    one of the values of a list-valued field, is ``value`` (``None``: it is empty or missing);
    on a plain column it is ``EQ``."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    IN = "in"
    CONTAINS = "contains"
    LIKE = "like"
    ILIKE = "ilike"
    REGEX = "regex"
    HAS = "has"


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter = Compare | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: str
    descending: bool = False


# Value converters ------------------------------------------------------------------------


def as_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a string is expected")
    return str(value)


def as_upper(value: Any) -> str:
    return as_text(value).upper()


def as_lower(value: Any) -> str:
    return as_text(value).lower()


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a number is expected")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise ValueError("a number is expected")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("true or false is expected")


def as_uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(as_text(value))


def as_datetime(value: Any) -> datetime:
    parsed = isoparse(as_text(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable, sortable field of a list."""

    column: SQLColumnExpression[Any]
    convert: Callable[[Any], Any] = as_text


Fields = Mapping[str, Field]


# Compiling ---------------------------------------------------------------------------------


def _field(fields: Fields, name: str) -> Field:
    field = fields.get(name)
    if field is None:
        raise UnknownField(name)
    return field


def _compare(field: Field, op: Op, value: Any) -> ColumnElement[bool]:
    column = field.column
    if op is Op.HAS:
        op = Op.EQ
    if value is None and op in (Op.EQ, Op.NE):
        return column.is_(None) if op is Op.EQ else column.is_not(None)
    if op is Op.IN:
        if not isinstance(value, list | tuple):
            raise ValueError("a list is expected")
        return column.in_([field.convert(v) for v in value])
    if isinstance(value, list | tuple):
        raise ValueError("a list is not allowed here")
    if op in (Op.CONTAINS, Op.LIKE, Op.ILIKE, Op.REGEX):
        text = as_text(value)
        if op is Op.CONTAINS:
            return column.contains(text, autoescape=True)
        if op is Op.REGEX:
            return column.regexp_match(text)
        return column.like(text) if op is Op.LIKE else column.ilike(text)
    converted = field.convert(value)
    comparisons: dict[Op, Callable[[], ColumnElement[bool]]] = {
        Op.EQ: lambda: column == converted,
        Op.NE: lambda: column != converted,
        Op.GT: lambda: column > converted,
        Op.GE: lambda: column >= converted,
        Op.LT: lambda: column < converted,
        Op.LE: lambda: column <= converted,
    }
    return comparisons[op]()


def compile_comparison(fields: Fields, compare: Compare) -> ColumnElement[bool]:
    """The SQL condition of one comparison.

    Raises UnknownField (the list has no such field), InvalidFilterValue (the value does not
    fit the field or the operator).
    """
    field = _field(fields, compare.field)
    try:
        return _compare(field, compare.op, compare.value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidFilterValue(compare.field, str(exc)) from exc
    except ArgumentError as exc:  # an order comparison with true or false
        raise InvalidFilterValue(compare.field, "true and false compare only for equality") from exc


def compile_filter(tree: Filter | None, fields: Fields) -> ColumnElement[bool] | None:
    """The SQL condition of a filter (None for no filter); raises as
    :func:`compile_comparison` does, for the first bad comparison from the left."""
    if tree is None:
        return None
    return _compile(tree, fields)


def _compile(tree: Filter, fields: Fields) -> ColumnElement[bool]:
    if isinstance(tree, Compare):
        return compile_comparison(fields, tree)
    if isinstance(tree, Not):
        return not_(_compile(tree.item, fields))
    parts = [_compile(item, fields) for item in tree.items]
    if not parts:  # all of nothing holds, any of nothing does not
        return true() if isinstance(tree, And) else false()
    if len(parts) == 1:
        return parts[0]
    return and_(*parts) if isinstance(tree, And) else or_(*parts)


def compile_order(
    order: Sequence[OrderBy] | None, fields: Fields, default: Sequence[SQLColumnExpression[Any]]
) -> list[SQLColumnExpression[Any]]:
    """ORDER BY clauses of an ordering, then ``default`` (which breaks ties); raises
    UnknownField."""
    clauses: list[SQLColumnExpression[Any]] = []
    for item in order or ():
        column = _field(fields, item.field).column
        clauses.append(column.desc() if item.descending else column.asc())
    return clauses + list(default)
