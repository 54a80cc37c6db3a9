"""Queries over tracking documents: conditions, order, page and projection, evaluated in memory.

Tasks, models and projects are listed the same way: a repo loads the rows a caller may see
(narrowed in SQL where a condition names a plain column), turns them into plain documents
(nested dicts), and :func:`run` filters, sorts, slices and projects them. A face parses its
own filter language into these values. Paths are dotted ("execution.queue",
"hyperparams.Args.lr.value"); a missing path reads as None. A step whose name holds a dot
writes it escaped, so that a path is never ambiguous: "." as ``%2E``, "$" as ``%24``, "__" as
``%_%_``, a leading "_" as ``%_`` and "%" itself as ``%%`` ("hyperparams.Args.lr%2Ebase.value"
reads the parameter "lr.base"); see :func:`steps`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

MISSING: Any = None


@dataclass(frozen=True, slots=True)
class Matches:
    """The text at ``path`` matches ``pattern`` (searched, not anchored)."""

    path: str
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Term:
    """One element of a list condition: a value (None: empty or missing), maybe negated."""

    value: Any
    negated: bool = False


@dataclass(frozen=True, slots=True)
class InList:
    """The value (or list of values) at ``path`` against list terms.

    ``any_of``: at least one positive term is present, no negated term is. ``all_of``: every
    positive term is present, no negated term is. Both parts must hold."""

    path: str
    any_of: tuple[Term, ...] = ()
    all_of: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class InRange:
    """``low <= value <= high``; a None end is open; a missing value never matches."""

    path: str
    low: Any = None
    high: Any = None


class Op(Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="


@dataclass(frozen=True, slots=True)
class Compare:
    path: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class Equals:
    path: str
    value: Any


@dataclass(frozen=True, slots=True)
class AnyField:
    """Some (``every``: all) of ``paths`` match ``pattern``."""

    paths: tuple[str, ...]
    pattern: re.Pattern[str]
    every: bool = False


@dataclass(frozen=True, slots=True)
class Either:
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


Condition = Matches | InList | InRange | Compare | Equals | AnyField | Either | Not


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


def _paths(condition: Condition) -> set[str]:
    if isinstance(condition, AnyField):
        return {p.split(".", 1)[0] for p in condition.paths}
    if isinstance(condition, Either):
        return set().union(*(_paths(c) for c in condition.conditions))
    if isinstance(condition, Not):
        return _paths(condition.condition)
    return {condition.path.split(".", 1)[0]}


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


def _term_in(term: Term, present: set[Any]) -> bool:
    return not present if term.value is None else term.value in present


def _in_list(condition: InList, doc: Mapping[str, Any]) -> bool:
    present = _as_set(lookup(doc, condition.path))
    for terms, every in ((condition.any_of, False), (condition.all_of, True)):
        if any(t.negated and _term_in(t, present) for t in terms):
            return False
        wanted = [_term_in(t, present) for t in terms if not t.negated]
        if wanted and not (all(wanted) if every else any(wanted)):
            return False
    return True


def _comparable(value: Any, other: Any) -> bool:
    if isinstance(other, datetime):
        return isinstance(value, datetime)
    if isinstance(other, int | float) and not isinstance(other, bool):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(other))


def _compare(value: Any, op: Op, other: Any) -> bool:
    if not _comparable(value, other):
        return False
    if op is Op.LT:
        return bool(value < other)
    if op is Op.LE:
        return bool(value <= other)
    if op is Op.GT:
        return bool(value > other)
    if op is Op.GE:
        return bool(value >= other)
    return bool(value == other)


def _text_matches(value: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(value, list):
        return any(_text_matches(v, pattern) for v in value)
    return isinstance(value, str) and pattern.search(value) is not None


def holds(condition: Condition, doc: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``condition``."""
    if isinstance(condition, Matches):
        return _text_matches(lookup(doc, condition.path), condition.pattern)
    if isinstance(condition, InList):
        return _in_list(condition, doc)
    if isinstance(condition, InRange):
        value = lookup(doc, condition.path)
        ends = [(Op.GE, condition.low), (Op.LE, condition.high)]
        bounded = [(op, end) for op, end in ends if end is not None]
        return value is not None and all(_compare(value, op, end) for op, end in bounded)
    if isinstance(condition, Compare):
        return _compare(lookup(doc, condition.path), condition.op, condition.value)
    if isinstance(condition, Equals):
        return bool(lookup(doc, condition.path) == condition.value)
    if isinstance(condition, AnyField):
        hits = (_text_matches(lookup(doc, p), condition.pattern) for p in condition.paths)
        return all(hits) if condition.every else any(hits)
    if isinstance(condition, Either):
        return any(holds(c, doc) for c in condition.conditions)
    return not holds(condition.condition, doc)


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
