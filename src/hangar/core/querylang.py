"""The filter and order mini-languages of paginated lists, compiled to SQL.

Backend.AI (API >= v6.20210815) lets clients narrow and sort paginated lists with two small
languages::

    filter := expr
    expr   := "!" expr | "(" expr ")" | NAME OP value | expr "&" expr | expr "|" expr
    OP     := == != > >= < <= contains in isnot is like ilike
    value  := "string" | 'string' | number | [value, ...] | null | true | false
    order  := [+|-]NAME ("," [+|-]NAME)*

``!`` binds tightest, then ``&``, then ``|``. Each list names the fields it exposes
(:class:`Field`: a column and a converter for values); anything else is an
:class:`~hangar.core.errors.InvalidRequest`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from dateutil.parser import isoparse
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, not_, or_

from hangar.core.errors import InvalidRequest

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


# Tokens ----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
      | (?P<op>==|!=|>=|<=|>|<)
      | (?P<punct>[()&|!\[\],])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_WORD_OPS = frozenset({"contains", "in", "isnot", "is", "like", "ilike"})
_KEYWORDS: dict[str, Any] = {"null": None, "true": True, "false": False}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # str num op punct word end
    text: str
    pos: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise InvalidRequest(f"Invalid filter expression near {text[pos : pos + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    found.append(_Token("end", "", len(text)))
    return found


def _string(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "'":
        body = re.sub(r"\\'", "'", body).replace('"', '\\"')
    try:
        decoded = json.loads('"' + body + '"')
    except ValueError as exc:
        raise InvalidRequest(f"Invalid string literal {literal}") from exc
    assert isinstance(decoded, str)
    return decoded


class _Parser:
    def __init__(self, text: str, fields: Fields) -> None:
        self.text = text
        self.fields = fields
        self.tokens = _tokens(text)
        self.index = 0

    def fail(self, message: str) -> InvalidRequest:
        token = self.tokens[self.index]
        where = "at the end" if token.kind == "end" else f"at {token.text!r}"
        return InvalidRequest(f"Invalid filter expression ({message} {where}): {self.text}")

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token.kind == kind and token.text == text:
            self.index += 1
            return True
        return False

    def parse(self) -> ColumnElement[bool]:
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("unexpected input")
        return expr

    def or_expr(self) -> ColumnElement[bool]:
        parts = [self.and_expr()]
        while self.accept("punct", "|"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_expr(self) -> ColumnElement[bool]:
        parts = [self.unary()]
        while self.accept("punct", "&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def unary(self) -> ColumnElement[bool]:
        if self.accept("punct", "!"):
            return not_(self.unary())
        if self.accept("punct", "("):
            expr = self.or_expr()
            if not self.accept("punct", ")"):
                raise self.fail("')' expected")
            return expr
        return self.comparison()

    def comparison(self) -> ColumnElement[bool]:
        token = self.take()
        if token.kind != "word" or token.text in _KEYWORDS:
            self.index -= 1
            raise self.fail("a field name expected")
        field = self.fields.get(token.text)
        if field is None:
            self.index -= 1
            raise self.fail(f"unknown field {token.text!r}")
        op_token = self.take()
        if op_token.kind == "op" or (op_token.kind == "word" and op_token.text in _WORD_OPS):
            op = op_token.text
        else:
            self.index -= 1
            raise self.fail("an operator expected")
        value = self.value()
        try:
            return _compare(field, op, value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidRequest(
                f"Invalid filter expression (bad value for {token.text}: {exc}): {self.text}"
            ) from exc

    def value(self) -> Any:
        token = self.take()
        if token.kind == "str":
            return _string(token.text)
        if token.kind == "num":
            number = float(token.text)
            return int(token.text) if re.fullmatch(r"-?\d+", token.text) else number
        if token.kind == "word" and token.text in _KEYWORDS:
            return _KEYWORDS[token.text]
        if token.kind == "punct" and token.text == "[":
            items: list[Any] = []
            if self.accept("punct", "]"):
                return items
            while True:
                items.append(self.value())
                if self.accept("punct", "]"):
                    return items
                if not self.accept("punct", ","):
                    raise self.fail("',' or ']' expected")
        self.index -= 1
        raise self.fail("a value expected")


def _compare(field: Field, op: str, value: Any) -> ColumnElement[bool]:
    column = field.column
    if op in ("is", "isnot") or (op in ("==", "!=") and value is None):
        if value is not None:
            raise ValueError("only null may follow is / isnot")
        return column.is_(None) if op in ("is", "==") else column.is_not(None)
    if op == "in":
        if not isinstance(value, list):
            raise ValueError("a list is expected after in")
        return column.in_([field.convert(v) for v in value])
    if isinstance(value, list):
        raise ValueError(f"a list is not allowed after {op}")
    if op in ("contains", "like", "ilike"):
        text = as_text(value)
        if op == "contains":
            return column.contains(text, autoescape=True)
        return column.like(text) if op == "like" else column.ilike(text)
    converted = field.convert(value)
    comparisons: dict[str, Callable[[], ColumnElement[bool]]] = {
        "==": lambda: column == converted,
        "!=": lambda: column != converted,
        ">": lambda: column > converted,
        ">=": lambda: column >= converted,
        "<": lambda: column < converted,
        "<=": lambda: column <= converted,
    }
    return comparisons[op]()


def compile_filter(text: str | None, fields: Fields) -> ColumnElement[bool] | None:
    """The SQL condition of a filter expression (None for no filter)."""
    if text is None or not text.strip():
        return None
    return _Parser(text, fields).parse()


_ORDER_ITEM = re.compile(r"^\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\s(asc|desc))?\s*$", re.I)


def compile_order(
    text: str | None, fields: Fields, default: Sequence[SQLColumnExpression[Any]]
) -> list[SQLColumnExpression[Any]]:
    """ORDER BY clauses of an order expression such as ``-created_at,name``."""
    if text is None or not text.strip():
        return list(default)
    clauses: list[SQLColumnExpression[Any]] = []
    for part in text.split(","):
        match = _ORDER_ITEM.match(part)
        if match is None:
            raise InvalidRequest(f"Invalid order expression: {text}")
        sign, name, word = match.groups()
        field = fields.get(name)
        if field is None:
            raise InvalidRequest(f"Invalid order expression (unknown field {name!r}): {text}")
        descending = sign == "-" or (word or "").lower() == "desc"
        clauses.append(field.column.desc() if descending else field.column.asc())
    return clauses + list(default)
