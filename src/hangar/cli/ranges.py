"""Range expressions of ``hangar run --env-range/--exec-range``: ``X=case:a,b``,
``X=linspace:START,STOP,POINTS``, ``X=range:START,STOP,STEP``, and their combinations."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from string import Template


class RangeError(ValueError):
    """A malformed range expression."""


def _number(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise RangeError(f"{text.strip()!r} is not a number") from None


def _plain(value: Decimal) -> str:
    """``2.0`` → ``"2"``, ``1.50`` → ``"1.5"``."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def expand(expression: str) -> tuple[str, list[str]]:
    """``"X=range:1,6,2"`` → ``("X", ["1", "3", "5"])``."""
    name, sep, spec = expression.partition("=")
    kind, colon, args = spec.partition(":")
    if not sep or not name.isidentifier() or not colon:
        raise RangeError(f"{expression!r}: expected NAME=case:...|linspace:...|range:...")
    parts = [a for a in args.split(",")]
    if kind == "case":
        values = [p.strip() for p in parts if p.strip()]
    elif kind == "linspace":
        if len(parts) != 3:
            raise RangeError(f"{expression!r}: linspace takes START,STOP,POINTS")
        start, stop, points = (_number(p) for p in parts)
        if points < 1 or points != points.to_integral_value():
            raise RangeError(f"{expression!r}: POINTS must be a positive integer")
        n = int(points)
        step = (stop - start) / (n - 1) if n > 1 else Decimal(0)
        values = [_plain(start + step * i) for i in range(n)]
    elif kind == "range":
        if len(parts) not in (1, 2, 3):
            raise RangeError(f"{expression!r}: range takes [START,]STOP[,STEP]")
        try:
            numbers = [int(p) for p in parts]
            values = [str(v) for v in range(*numbers)]
        except ValueError as exc:
            raise RangeError(f"{expression!r}: {exc}") from None
    else:
        raise RangeError(f"{expression!r}: unknown range type {kind!r}")
    if not values:
        raise RangeError(f"{expression!r} has no values")
    return name, values


def combinations(expressions: Iterable[str]) -> list[dict[str, str]]:
    """Every combination of the values of all expressions (one empty case when none)."""
    expanded = [expand(e) for e in expressions]
    names = [name for name, _ in expanded]
    if len(set(names)) != len(names):
        raise RangeError("a range variable is defined twice")
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(v for _, v in expanded))
    ]


def interpolate(template: str, variables: dict[str, str]) -> str:
    """Replace ``$X`` / ``${X}`` in ``template`` with the case's values."""
    return Template(template).safe_substitute(variables)


def interpolate_all(templates: Sequence[str], variables: dict[str, str]) -> list[str]:
    return [interpolate(t, variables) for t in templates]
