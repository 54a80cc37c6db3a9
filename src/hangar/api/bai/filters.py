"""Backend.AI's filter and order mini-languages, parsed into the core's filter tree.

Backend.AI (API >= v6.20210815) lets clients narrow and sort paginated lists with two small
languages::

    filter := expr
    expr   := "!" expr | "(" expr ")" | NAME OP value | expr "&" expr | expr "|" expr
    OP     := == != > >= < <= contains in isnot is like ilike
    value  := "string" | 'string' | number | [value, ...] | null | true | false
    order  := [+|-]NAME ("," [+|-]NAME)*

``!`` binds tightest, then ``&``, then ``|``. Each comparison is checked against the list's
fields (:data:`hangar.core.filters.Fields`) as it is read, so the first mistake from the left
is the one reported, as an :class:`~hangar.core.errors.InvalidRequest` in Backend.AI's words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hangar.core.errors import InvalidFilterValue, InvalidRequest
from hangar.core.filters import (
    And,
    Compare,
    Fields,
    Filter,
    Not,
    Op,
    Or,
    OrderBy,
    compile_comparison,
)

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
_OPS: dict[str, Op] = {
    "==": Op.EQ,
    "!=": Op.NE,
    ">": Op.GT,
    ">=": Op.GE,
    "<": Op.LT,
    "<=": Op.LE,
    "is": Op.EQ,
    "isnot": Op.NE,
    "in": Op.IN,
    "contains": Op.CONTAINS,
    "like": Op.LIKE,
    "ilike": Op.ILIKE,
}
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


def _check_shape(op: str, value: Any) -> None:
    """Backend.AI's rules on which values may follow which operator."""
    if op in ("is", "isnot") and value is not None:
        raise ValueError("only null may follow is / isnot")
    if op == "in" and not isinstance(value, list):
        raise ValueError("a list is expected after in")
    if op != "in" and isinstance(value, list):
        raise ValueError(f"a list is not allowed after {op}")


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

    def parse(self) -> Filter:
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("unexpected input")
        return expr

    def or_expr(self) -> Filter:
        parts = [self.and_expr()]
        while self.accept("punct", "|"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Filter:
        parts = [self.unary()]
        while self.accept("punct", "&"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Filter:
        if self.accept("punct", "!"):
            return Not(self.unary())
        if self.accept("punct", "("):
            expr = self.or_expr()
            if not self.accept("punct", ")"):
                raise self.fail("')' expected")
            return expr
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.take()
        if token.kind != "word" or token.text in _KEYWORDS:
            self.index -= 1
            raise self.fail("a field name expected")
        if token.text not in self.fields:
            self.index -= 1
            raise self.fail(f"unknown field {token.text!r}")
        op_token = self.take()
        if op_token.kind == "op" or (op_token.kind == "word" and op_token.text in _WORD_OPS):
            op = op_token.text
        else:
            self.index -= 1
            raise self.fail("an operator expected")
        value = self.value()
        compare = Compare(token.text, _OPS[op], value)
        try:
            _check_shape(op, value)
            compile_comparison(self.fields, compare)
        except (ValueError, InvalidFilterValue) as exc:
            reason = exc.reason if isinstance(exc, InvalidFilterValue) else str(exc)
            raise InvalidRequest(
                f"Invalid filter expression (bad value for {token.text}: {reason}): {self.text}"
            ) from exc
        return compare

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


def parse_filter(text: str | None, fields: Fields) -> Filter | None:
    """The filter tree of a filter expression (None for no filter).

    Raises InvalidRequest worded as Backend.AI words it: a syntax error, a field ``fields``
    does not have, a value that does not fit its field.
    """
    if text is None or not text.strip():
        return None
    return _Parser(text, fields).parse()


_ORDER_ITEM = re.compile(r"^\s*([+-]?)\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\s(asc|desc))?\s*$", re.I)


def parse_order(text: str | None, fields: Fields) -> list[OrderBy]:
    """The ordering of an order expression such as ``-created_at,name`` (empty for none);
    raises InvalidRequest for a malformed item or a field ``fields`` does not have."""
    if text is None or not text.strip():
        return []
    order: list[OrderBy] = []
    for part in text.split(","):
        match = _ORDER_ITEM.match(part)
        if match is None:
            raise InvalidRequest(f"Invalid order expression: {text}")
        sign, name, word = match.groups()
        if name not in fields:
            raise InvalidRequest(f"Invalid order expression (unknown field {name!r}): {text}")
        descending = sign == "-" or (word or "").lower() == "desc"
        order.append(OrderBy(name, descending))
    return order
