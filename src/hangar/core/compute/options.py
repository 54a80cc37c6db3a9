"""Session creation options in the forms Backend.AI accepts: ``starts_at``,
``resource_opts`` and ``preopen_ports``. Pure functions; they raise InvalidRequest for what
they cannot accept."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hangar.core.errors import InvalidRequest
from hangar.core.scheduler.slots import parse_amount

_NUMBER = r"\d+(?:\.\d+)?"
_RELATIVE = re.compile(
    rf"^\s*(?:(?P<days>{_NUMBER})\s*(?:d|days?))?"
    rf"\s*(?:(?P<hours>{_NUMBER})\s*(?:h|hrs?|hours?))?"
    rf"\s*(?:(?P<minutes>{_NUMBER})\s*(?:m|mins?|minutes?))?"
    rf"\s*(?:(?P<seconds>{_NUMBER})\s*(?:s|secs?|seconds?))?\s*$",
    re.IGNORECASE,
)
MAX_DELAY = timedelta(days=366)
RESOURCE_OPTS = frozenset({"shmem", "disk"})


def parse_starts_at(value: datetime | str | None, now: datetime) -> datetime | None:
    """``starts_at`` as an aware UTC time: an ISO 8601 time (naive ones are UTC) or a delay
    from ``now`` such as ``"30s"``, ``"10m"``, ``"1h"``, ``"1d"`` or ``"1h30m"``.

    Blank means none. Raises InvalidRequest for anything else or for more than a year ahead.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        text = value.strip()
        match = _RELATIVE.match(text)
        if match and any(match.groupdict().values()):
            parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
            when = now + timedelta(**parts)
        else:
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise InvalidRequest(
                    f"starts_at: {value!r} is neither an ISO 8601 time nor a delay such as "
                    "'30s', '10m', '1h' or '1d'"
                ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when - now > MAX_DELAY:
        raise InvalidRequest("starts_at: at most one year ahead")
    return when


def parse_resource_opts(
    opts: Mapping[str, Any] | None, requested_mem: Decimal | None
) -> dict[str, str]:
    """Validated ``resource_opts`` in wire form (amounts as byte strings).

    Known options: ``shmem`` (the size of /dev/shm, e.g. ``"64m"``), which must stay below
    the requested memory; ``disk`` (the size of the scratch disk, /home/work, e.g.
    ``"20g"``). Raises InvalidRequest for unknown options or bad values.
    """
    result: dict[str, str] = {}
    for name, value in (opts or {}).items():
        if name not in RESOURCE_OPTS:
            known = ", ".join(sorted(RESOURCE_OPTS))
            raise InvalidRequest(f"resource_opts: unknown option {name!r} (known: {known})")
        try:
            amount = parse_amount(name, value, True, False)
        except (InvalidRequest, ValueError, TypeError) as exc:
            raise InvalidRequest(f"resource_opts: {name}: invalid size {value!r}") from exc
        if amount != amount.to_integral_value() or amount <= 0:
            raise InvalidRequest(f"resource_opts: {name} must be a positive size in bytes")
        if name == "shmem" and requested_mem is not None and 0 < requested_mem <= amount:
            raise InvalidRequest(
                f"resource_opts: {name} ({int(amount)} bytes) must be less than the requested "
                f"memory ({int(requested_mem)} bytes)"
            )
        result[name] = str(int(amount))
    return result


MAX_PREOPEN_PORTS = 16
RESERVED_PORTS = frozenset({2200, 7681, 8081})  # sshd, ttyd, jupyter: the apps' own ports


def parse_preopen_ports(ports: Sequence[int | str] | None) -> list[int]:
    """``preopen_ports`` (the client sends numeric strings): distinct ports 1024-65535 the
    session will listen on, reached through the app proxy. Raises InvalidRequest."""
    chosen: list[int] = []
    for value in ports or ():
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 1024 <= int(text) <= 65535:
            raise InvalidRequest(f"preopen_ports: {value!r} is not a port number 1024-65535")
        if int(text) in RESERVED_PORTS:
            raise InvalidRequest(f"preopen_ports: {text} is the port of a built-in app")
        if int(text) not in chosen:
            chosen.append(int(text))
    if len(chosen) > MAX_PREOPEN_PORTS:
        raise InvalidRequest(f"preopen_ports: at most {MAX_PREOPEN_PORTS} ports")
    return chosen
