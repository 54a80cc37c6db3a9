"""Queries over tracking documents: conditions, order, page and projection, evaluated in memory.

Tasks, models and projects are listed the same way: a repo loads the rows a caller may see
(narrowed in SQL where a condition names a plain column), turns them into plain documents
(nested dicts), and :func:`run` filters, sorts, slices and projects them. A face parses its
own filter language into the core's filter tree (:mod:`hangar.core.filters`), with the
constructors here for conditions over documents (list terms, ranges, patterns); the tree's
field names are the paths. Paths are dotted ("execution.queue",
"hyperparams.Args.lr.value"); a missing path reads as None. A step whose name holds a dot
writes it escaped, so that a path is never ambiguous: "." as ``%2E``, "$" as ``%24``, "__" as
``%_%_``, a leading "_" as ``%_`` and "%" itself as ``%%`` ("hyperparams.Args.lr%2Ebase.value"
reads the parameter "lr.base"); see :func:`steps`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hangar.core.filters import And, Filter, Or
from hangar.core.filters import Compare as Compare
from hangar.core.filters import Not as Not
from hangar.core.filters import Op as Op

MISSING: Any = None

Condition = Filter  # a condition is a node of the core's neutral filter tree


def Matches(path: str, pattern: re.Pattern[str]) -> Filter:
    """The text at ``path`` matches ``pattern`` (searched, not anchored)."""
    return Compare(path, Op.REGEX, pattern)


@dataclass(frozen=True, slots=True)
class Term:
    """One element of a list condition: a value (None: empty or missing), maybe negated."""

    value: Any
    negated: bool = False


def InList(path: str, any_of: tuple[Term, ...] = (), all_of: tuple[Term, ...] = ()) -> Filter:
    """The value (or list of values) at ``path`` against list terms.

    ``any_of``: at least one positive term is present, no negated term is. ``all_of``: every
    positive term is present, no negated term is. Both parts must hold."""
    parts: list[Filter] = []
    for terms, every in ((any_of, False), (all_of, True)):
        parts += [Not(Compare(path, Op.HAS, t.value)) for t in terms if t.negated]
        wanted = tuple(Compare(path, Op.HAS, t.value) for t in terms if not t.negated)
        if wanted:
            parts.append(And(wanted) if every else Or(wanted))
    return And(tuple(parts))


def InRange(path: str, low: Any = None, high: Any = None) -> Filter:
    """``low <= value <= high``; a None end is open; a missing value never matches."""
    ends = ((Op.GE, low), (Op.LE, high))
    bounded = tuple(Compare(path, op, end) for op, end in ends if end is not None)
    return And((Compare(path, Op.NE, None), *bounded))


def Equals(path: str, value: Any) -> Filter:
    return Compare(path, Op.EQ, value)


def AnyField(paths: tuple[str, ...], pattern: re.Pattern[str], every: bool = False) -> Filter:
    """Some (``every``: all) of ``paths`` match ``pattern``."""
    matches = tuple(Matches(p, pattern) for p in paths)
    return And(matches) if every else Or(matches)


def Either(conditions: tuple[Filter, ...]) -> Filter:
    """At least one of ``conditions`` holds."""
    return Or(tuple(conditions))


@dataclass(frozen=True, slots=True)
class Query:
    """What to list: every condition must hold; then ``order`` ((path, descending) pairs),
    ``offset``/``limit`` (None: all) and ``fields`` (None: whole documents)."""

    conditions: tuple[Condition, ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    offset: int = 0
    limit: int | None = None
    fields: tuple[str, ...] | None = None

    def paths(self) -> set[str]:
        """The top-level fields the conditions and order read."""
        found = {path.split(".", 1)[0] for path, _ in self.order}
        for condition in self.conditions:
            found |= _paths(condition)
        return found


def _paths(condition: Filter) -> set[str]:
    if isinstance(condition, Compare):
        return {condition.field.split(".", 1)[0]}
    if isinstance(condition, Not):
        return _paths(condition.item)
    return set().union(*(_paths(c) for c in condition.items))


_ESCAPES = (("%2E", "."), ("%24", "$"), ("%_%_", "__"))


def unescape(step: str) -> str:
    """A path step's name from its escaped form (see the module text)."""
    pieces = step.split("%%")
    if pieces[0].startswith("%_") and not pieces[0].startswith("%_%_"):
        pieces[0] = "_" + pieces[0][2:]
    for i, piece in enumerate(pieces):
        for escaped, plain in _ESCAPES:
            piece = piece.replace(escaped, plain)
        pieces[i] = piece
    return "%".join(pieces)


def steps(path: str) -> list[str]:
    """The names a dotted path goes through, unescaped."""
    return [unescape(step) if "%" in step else step for step in path.split(".")]


def lookup(doc: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; None where any step is missing; a list where a step
    goes into a list of objects ("models.input.model": every input model's id)."""
    value: Any = doc
    for step in steps(path):
        if isinstance(value, Mapping):
            value = value.get(step, MISSING)
        elif isinstance(value, list):  # a step into a list of objects gathers their values
            value = [v[step] for v in value if isinstance(v, Mapping) and step in v]
        else:
            return MISSING
    return value


def _as_set(value: Any) -> set[Any]:
    if value is None:
        return set()
    if isinstance(value, list | tuple | set | frozenset):
        return {v for v in value if isinstance(v, str | int | float | bool)}
    return {value} if isinstance(value, str | int | float | bool) else set()


def _has(value: Any, present: set[Any]) -> bool:
    return not present if value is None else value in present


def _comparable(value: Any, other: Any) -> bool:
    if isinstance(other, datetime):
        return isinstance(value, datetime)
    if isinstance(other, int | float) and not isinstance(other, bool):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(other))


_ORDERED = {
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


def _pattern(value: Any) -> re.Pattern[str]:
    return value if isinstance(value, re.Pattern) else re.compile(str(value))


def _text_matches(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, list):
        return any(_text_matches(v, pattern) for v in value)
    return isinstance(value, str) and pattern.search(value) is not None


def _like(value: Any, pattern: Any, flags: int = 0) -> bool:
    text = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(pattern))
    return isinstance(value, str) and re.fullmatch(text, value, flags | re.DOTALL) is not None


def _holds_compare(condition: Compare, doc: Mapping[str, Any]) -> bool:
    value, op, other = lookup(doc, condition.field), condition.op, condition.value
    if op is Op.HAS:
        return _has(other, _as_set(value))
    if op is Op.REGEX:
        return _text_matches(value, _pattern(other))
    if op is Op.EQ:
        return bool(value == other)
    if op is Op.NE:
        return bool(value != other)
    if op is Op.IN:
        return value in other
    if op is Op.CONTAINS:
        return isinstance(value, str) and str(other) in value
    if op in (Op.LIKE, Op.ILIKE):
        return _like(value, other, re.IGNORECASE if op is Op.ILIKE else 0)
    return _comparable(value, other) and bool(_ORDERED[op](value, other))


def holds(condition: Filter, doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``condition``: a comparison reads the value at its path
    (see :func:`lookup`); an ordering never holds between values of different types."""
    if isinstance(condition, Compare):
        return _holds_compare(condition, doc)
    if isinstance(condition, Not):
        return not holds(condition.item, doc)
    if isinstance(condition, And):
        return all(holds(c, doc) for c in condition.items)
    return any(holds(c, doc) for c in condition.items)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders None first, then numbers, text, times; other values by their text."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, datetime):
        return (3, value.timestamp())
    return (4, str(value))


def sort(docs: list[dict[str, Any]], order: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    """``docs`` sorted by each (path, descending) pair, the first pair weighing most."""
    result = list(docs)
    for path, descending in reversed(order):
        result.sort(key=_key_at(path), reverse=descending)
    return result


def _key_at(path: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    return lambda doc: _sort_key(lookup(doc, path))


def project(doc: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Only ``paths`` of ``doc`` (and ``id``); a dotted path keeps its parent objects even
    where the leaf is missing."""
    out: dict[str, Any] = {"id": doc.get("id")}
    for path in paths:
        names = steps(path)
        source: Any = doc
        target = out
        for i, step in enumerate(names):
            if not isinstance(source, Mapping) or step not in source:
                break
            source = source[step]
            if i == len(names) - 1:
                target[step] = source
            elif isinstance(source, Mapping):
                child = target.setdefault(step, {})
                target = child if isinstance(child, dict) else {}
            else:
                target[step] = source
                break
    return out


def run(docs: Iterable[dict[str, Any]], query: Query) -> list[dict[str, Any]]:
    """The documents that satisfy every condition, ordered, sliced and projected."""
    matching = [d for d in docs if all(holds(c, d) for c in query.conditions)]
    ordered = sort(matching, query.order) if query.order else matching
    end = None if query.limit is None else query.offset + query.limit
    page = ordered[query.offset : end]
    if query.fields is None:
        return page
    return [project(d, query.fields) for d in page]
