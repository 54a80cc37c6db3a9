"""The face's list styles (spec §1.5), one helper for every list route.

``page``/``size`` (VMs, volumes) and ``pageNumber``/``pageSize`` (tasks) answer the same
``{items, page, size, total, pages}``; worker logs use a search-after cursor answering
``{logs, hasMore, nextSearchAfterTime, nextSearchAfterOffset}``; other lists are bare arrays.

    @route("GET", "/v2/volumes")
    async def list_volumes(call: Call) -> dict[str, Any]:
        want = page_request(call.query)                      # 10001 naming a bad parameter
        return paged(await call.services.volumes.owned(...), want, wire)
        # or, paging in the database: page_of([wire(v) for v in rows], total, want)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from hangar.core.errors import InvalidRequest

T = TypeVar("T")

DEFAULT_SIZE = 10
MAX_SIZE = 1000  # not documented for page/size; the cursor style's maximum
DEFAULT_LOG_PAGE = 100
MAX_LOG_PAGE = 1000


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A 1-based page of ``size`` items."""

    page: int = 1
    size: int = DEFAULT_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def limit(self) -> int:
        return self.size


def _bad(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{name}: {why}", data={name: why})


def _int_param(
    query: Mapping[str, str], name: str, default: int, *, low: int, high: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise _bad(name, "must be an integer")
    value = int(text)
    if value < low:
        raise _bad(name, f"must be at least {low}")
    if high is not None and value > high:
        raise _bad(name, f"must be at most {high}")
    return value


def page_request(query: Mapping[str, str], *, style: str = "page") -> PageRequest:
    """The page asked for: ``style="page"`` reads ``page``/``size`` (VM and volume lists),
    ``style="pageNumber"`` reads ``pageNumber``/``pageSize`` (task lists). Either style also
    accepts the other's names, so a client mixing them is understood. InvalidRequest (10001,
    naming the parameter) for a non-integer, a page below 1 or a size outside 1..1000."""
    first, second = ("page", "pageNumber") if style == "page" else ("pageNumber", "page")
    size_first, size_second = ("size", "pageSize") if style == "page" else ("pageSize", "size")
    page_name = first if query.get(first) not in (None, "") else second
    size_name = size_first if query.get(size_first) not in (None, "") else size_second
    page = _int_param(query, page_name, 1, low=1)
    size = _int_param(query, size_name, DEFAULT_SIZE, low=1, high=MAX_SIZE)
    return PageRequest(page, size)


def page_of(items: Sequence[Any], total: int, want: PageRequest) -> dict[str, Any]:
    """The envelope's ``data`` for one page already cut (in the database, say)."""
    return {
        "items": list(items),
        "page": want.page,
        "size": want.size,
        "total": total,
        "pages": math.ceil(total / want.size) if total else 0,
    }


def paged(
    items: Sequence[T], want: PageRequest, render: Callable[[T], Any] | None = None
) -> dict[str, Any]:
    """One page of ``items`` (all of them, in order), each rendered; a page past the end is
    empty (spec §1.5)."""
    chosen = items[want.offset : want.offset + want.size]
    return page_of([render(i) if render else i for i in chosen], len(items), want)


class Direction(StrEnum):
    FORWARD = "Forward"
    BACKWARD = "Backward"


@dataclass(frozen=True, slots=True)
class Cursor:
    """A search-after request: entries strictly after (``FORWARD``) or before (``BACKWARD``)
    the position (time, offset); no position means from the start (or the end)."""

    page_size: int = DEFAULT_LOG_PAGE
    after_time: datetime | None = None
    after_offset: int | None = None
    direction: Direction = Direction.FORWARD
    start: datetime | None = None
    end: datetime | None = None
    keyword: str | None = None


def parse_instant(name: str, raw: str) -> datetime:
    """Epoch milliseconds or an ISO 8601 string as an aware UTC time (10001 otherwise)."""
    text = raw.strip()
    if re.fullmatch(r"\d{1,16}", text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(name, "must be epoch milliseconds or an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _instant(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    return None if raw is None or raw.strip() == "" else parse_instant(name, raw)


def cursor_request(query: Mapping[str, str]) -> Cursor:
    """``pageSize`` (1..1000, default 100), ``searchAfterTime``, ``searchAfterOffset``,
    ``direction`` (Forward/Backward, any case), ``startTime``, ``endTime``, ``keyword``."""
    size = _int_param(query, "pageSize", DEFAULT_LOG_PAGE, low=1, high=MAX_LOG_PAGE)
    raw_offset = query.get("searchAfterOffset")
    offset = None
    if raw_offset not in (None, ""):
        offset = _int_param(query, "searchAfterOffset", 0, low=0)
    raw_direction = (query.get("direction") or "Forward").strip().lower()
    directions = {d.value.lower(): d for d in Direction}
    if raw_direction not in directions:
        raise _bad("direction", "must be Forward or Backward")
    return Cursor(
        page_size=size,
        after_time=_instant(query, "searchAfterTime"),
        after_offset=offset,
        direction=directions[raw_direction],
        start=_instant(query, "startTime"),
        end=_instant(query, "endTime"),
        keyword=query.get("keyword") or None,
    )


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def cursor_page(
    entries: Sequence[Any], *, has_more: bool, last: tuple[datetime, int] | None
) -> dict[str, Any]:
    """The envelope's ``data`` for a cursor page; ``last`` is the (time, offset) of the last
    entry returned, sent back as strings (epoch ms, the offset) for the next request."""
    return {
        "logs": list(entries),
        "hasMore": has_more,
        "nextSearchAfterTime": str(epoch_ms(last[0])) if last else None,
        "nextSearchAfterOffset": str(last[1]) if last else None,
    }
