"""ClearML's ``*.get_all`` request keys, parsed into the tracking core's queries.

Tasks, models, projects and queues share the language (spec §7.1): list filters with ``-x``
exclusion and the ``__$all``/``__$any``/``__$not`` operators, ``name`` as a searched regular
expression, ``[low, high]`` ranges, datetime conditions (``">=2024-01-01"``), ``_all_`` /
``_any_`` field patterns, ``filters`` (API >= 2.27), ``order_by``, ``page``/``page_size`` or
``size``/``scroll_id``, and ``only_fields``. A :class:`Language` names which keys of one object
kind are lists, ranges, datetimes and equality prefixes; :func:`parse` does the rest.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dateutil.parser import isoparse

from hangar.api.clearml.errors import ClearmlError
from hangar.core.tracking import query as q

MAX_PAGE_SIZE = 500
OPERATORS = {"__$all": "all", "__$and": "all", "__$any": "any", "__$or": "any"}
NOT = "__$not"


@dataclass(frozen=True)
class Language:
    """The filterable keys of one object kind (paths into its documents)."""

    lists: frozenset[str]
    ranges: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    list_prefixes: tuple[str, ...] = ()
    equal_prefixes: tuple[str, ...] = ()
    range_prefixes: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ("id", "name", "comment")
    time_fields: frozenset[str] = field(default_factory=frozenset)


def bad(message: str) -> ClearmlError:
    return ClearmlError(400, 12, message)


def regex(pattern: Any, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A compiled pattern; 400/21 when it is not a valid regular expression."""
    if not isinstance(pattern, str):
        raise bad("A pattern must be a string")
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ClearmlError(400, 21, f"Invalid regular expression {pattern!r}: {exc}") from None


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def list_condition(path: str, values: Any) -> q.Condition:
    """``["a", "-b", "__$all", "c", "__$not", "d", null]`` as list terms."""
    any_of: list[q.Term] = []
    all_of: list[q.Term] = []
    target, negate = any_of, False
    for value in as_list(values):
        if value is not None and not isinstance(value, str | int | float | bool):
            raise bad(f"Invalid value in the {path} filter: {value!r}")
        if value in OPERATORS:
            target = all_of if OPERATORS[value] == "all" else any_of
            continue
        if value == NOT:
            negate = True
            continue
        if isinstance(value, str) and value.startswith("-") and len(value) > 1:
            target.append(q.Term(value[1:], negated=not negate))
        else:
            target.append(q.Term(value, negated=negate))
        negate = False
    return q.InList(path, tuple(any_of), tuple(all_of))


def when(value: Any) -> datetime:
    """A datetime from ISO text or epoch seconds/milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str):
        raise bad(f"Invalid date: {value!r}")
    try:
        parsed = isoparse(value.strip())
    except ValueError:
        raise bad(f"Invalid date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _range_end(value: Any, dated: bool) -> Any:
    if value is None:
        return None
    if dated:
        return when(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"Invalid range end: {value!r}")
    return value


def range_condition(path: str, values: Any, *, dated: bool) -> q.Condition:
    ends = as_list(values)
    if len(ends) != 2:
        raise bad(f"The {path} range must be [low, high]")
    return q.InRange(path, _range_end(ends[0], dated), _range_end(ends[1], dated))


_DATE_OPS = {">=": q.Op.GE, "<=": q.Op.LE, ">": q.Op.GT, "<": q.Op.LT}


def date_conditions(path: str, values: Any) -> list[q.Condition]:
    conditions: list[q.Condition] = []
    for value in as_list(values):
        if not isinstance(value, str):
            raise bad(f"Invalid {path} condition: {value!r}")
        op = next((o for o in _DATE_OPS if value.startswith(o)), None)
        if op is None:
            conditions.append(q.Compare(path, q.Op.GE, when(value)))
        else:
            conditions.append(q.Compare(path, _DATE_OPS[op], when(value[len(op) :])))
    return conditions


def field_patterns(key: str, spec: Any) -> q.Condition:
    """``_all_``/``_any_``: ``{fields: [paths], pattern}``."""
    if not isinstance(spec, Mapping):
        raise bad(f"{key} must be an object")
    paths = spec.get("fields")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise bad(f"{key}.fields must be a list of field names")
    pattern = spec.get("pattern")
    if pattern is None:
        return q.AnyField((), re.compile(""), every=True)  # no pattern: no condition
    return q.AnyField(tuple(paths), regex(pattern, ignore_case=True), every=key == "_all_")


def ui_filters(spec: Any) -> list[q.Condition]:
    """``filters: {field: {any|all: {include, exclude}, op}}`` (API >= 2.27)."""
    if not isinstance(spec, Mapping):
        raise bad("filters must be an object")
    conditions: list[q.Condition] = []
    for path, rule in spec.items():
        if not isinstance(rule, Mapping):
            raise bad(f"filters.{path} must be an object")
        parts: list[q.Condition] = []
        for mode in ("any", "all"):
            part = rule.get(mode) or {}
            if not isinstance(part, Mapping):
                raise bad(f"filters.{path}.{mode} must be an object")
            terms = [*as_list(part.get("include") or []),
                     *(f"-{v}" for v in as_list(part.get("exclude") or []))]  # fmt: skip
            if terms:
                parts.append(list_condition(path, ["__$all", *terms] if mode == "all" else terms))
        if rule.get("op") == "or" and len(parts) > 1:
            conditions.append(q.Either(tuple(parts)))
        else:
            conditions.extend(parts)
    return conditions


def _key_condition(lang: Language, key: str, value: Any) -> list[q.Condition]:
    if key in lang.lists or key.startswith(lang.list_prefixes):
        return [list_condition(key, value)]
    if key in lang.ranges or key.startswith(lang.range_prefixes):
        return [range_condition(key, value, dated=key in lang.time_fields)]
    if key in lang.dates:
        return date_conditions(key, value)
    if key.startswith(lang.equal_prefixes):
        return [q.Equals(key, value)]
    return []


def order(value: Any) -> tuple[tuple[str, bool], ...]:
    keys = []
    for item in as_list(value):
        if not isinstance(item, str) or not item.strip("-"):
            raise bad(f"Invalid order_by entry: {item!r}")
        keys.append((item.lstrip("-"), item.startswith("-")))
    return tuple(keys)


def scroll_offset(scroll_id: Any) -> int:
    try:
        return int(base64.urlsafe_b64decode(str(scroll_id).encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise ClearmlError(400, 1104, f"Invalid scroll id: {scroll_id!r}") from None


def scroll_id(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(f"{key} must be a non-negative integer")
    return value


def paging(body: Mapping[str, Any]) -> tuple[int, int | None, int | None]:
    """(offset, limit, next scroll offset or None) from page/page_size or size/scroll_id."""
    page, page_size, size = _int(body, "page"), _int(body, "page_size"), _int(body, "size")
    if page is not None or page_size is not None:
        limit = min(page_size if page_size is not None else MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        return (page or 0) * limit, limit, None
    if size is not None or body.get("scroll_id") is not None:
        start = scroll_offset(body["scroll_id"]) if body.get("scroll_id") else 0
        limit = min(size if size is not None else MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        if body.get("refresh_scroll"):
            return 0, start + limit, start + limit
        return start, limit, start + limit
    return 0, None, None


def only_fields(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    fields = as_list(value)
    if not all(isinstance(f, str) for f in fields):
        raise bad("only_fields must be a list of field names")
    return tuple(fields)


def parse(
    lang: Language, body: Mapping[str, Any], *, hidden_field: str = "system_tags"
) -> tuple[q.Query, int | None]:
    """The query a ``get_all`` body asks for, and the offset its next scroll starts at."""
    conditions: list[q.Condition] = []
    for key, value in body.items():
        conditions.extend(_key_condition(lang, key, value))
    if body.get("name") is not None:
        conditions.append(q.Matches("name", regex(body["name"])))
    for key in ("_all_", "_any_"):
        if body.get(key) is not None:
            conditions.append(field_patterns(key, body[key]))
    if body.get("filters") is not None:
        conditions.extend(ui_filters(body["filters"]))
    if body.get("search_text"):
        pattern = regex(re.escape(str(body["search_text"])), ignore_case=True)
        conditions.append(q.AnyField(lang.text_fields, pattern))
    if not body.get("search_hidden") and body.get("id") is None:
        conditions.append(q.InList(hidden_field, (q.Term("hidden", negated=True),)))
    offset, limit, next_scroll = paging(body)
    sort = order(body["order_by"]) if body.get("order_by") else ()
    query = q.Query(tuple(conditions), sort, offset, limit, only_fields(body.get("only_fields")))
    return query, next_scroll


def ids_of(body: Mapping[str, Any], key: str) -> list[str] | None:
    """A plain list of ids under ``key`` (None when absent or using operators), for SQL."""
    value = body.get(key)
    if value is None:
        return None
    values = as_list(value)
    if all(isinstance(v, str) and not v.startswith(("-", "__$")) for v in values):
        return values
    return None


def rendered(value: Any) -> Any:
    """A document in wire form: datetimes as ISO-8601 with offset, containers rendered."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: rendered(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rendered(v) for v in value]
    return value
