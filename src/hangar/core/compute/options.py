"""Session creation options in the forms clients send: ``starts_at``, ``resource_opts`` and
mounts. Pure functions; they raise InvalidValue for what they cannot accept."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hangar.core.compute.models import MountSpec
from hangar.core.errors import InvalidRequest, InvalidValue
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
DEVICE_MODEL = "device_model"
RESOURCE_OPTS = frozenset({"shmem", "disk", DEVICE_MODEL})


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
                raise InvalidValue(
                    "starts_at",
                    f"{value!r} is neither an ISO 8601 time nor a delay such as "
                    "'30s', '10m', '1h' or '1d'",
                ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when - now > MAX_DELAY:
        raise InvalidValue("starts_at", "at most one year ahead")
    return when


def parse_resource_opts(
    opts: Mapping[str, Any] | None, requested_mem: Decimal | None
) -> dict[str, str]:
    """Validated ``resource_opts`` in wire form (amounts as byte strings).

    Known options: ``shmem`` (the size of /dev/shm, e.g. ``"64m"``), which must stay below
    the requested memory; ``disk`` (the size of the scratch disk, /home/work, e.g.
    ``"20g"``); ``device_model`` (only accelerators of this model, as agents report it).
    Raises InvalidRequest for unknown options or bad values.
    """
    result: dict[str, str] = {}
    for name, value in (opts or {}).items():
        if name not in RESOURCE_OPTS:
            known = ", ".join(sorted(RESOURCE_OPTS))
            raise InvalidValue("resource_opts", f"unknown option {name!r} (known: {known})")
        if name == DEVICE_MODEL:
            if not isinstance(value, str) or not 0 < len(value) <= 128 or not value.isprintable():
                raise InvalidValue("resource_opts", f"{name}: a device model name expected")
            result[name] = value
            continue
        try:
            amount = parse_amount(name, value, True, False)
        except (InvalidRequest, ValueError, TypeError) as exc:
            raise InvalidValue("resource_opts", f"{name}: invalid size {value!r}") from exc
        if amount != amount.to_integral_value() or amount <= 0:
            raise InvalidValue("resource_opts", f"{name} must be a positive size in bytes")
        if name == "shmem" and requested_mem is not None and 0 < requested_mem <= amount:
            raise InvalidValue(
                "resource_opts",
                f"{name} ({int(amount)} bytes) must be less than the requested "
                f"memory ({int(requested_mem)} bytes)",
            )
        result[name] = str(int(amount))
    return result


def mount_specs(names: Sequence[str], paths: Mapping[str, str] | None) -> tuple[MountSpec, ...]:
    """Folders to mount from a list of ``name`` / ``name:alias`` (or ``name=alias``) and a
    map of name -> path (which wins), in order, each once."""
    wanted: dict[str, str | None] = {}
    for entry in names:
        name, alias = _split_mount(str(entry))
        if name:
            wanted[name] = alias or wanted.get(name)
    for name, alias in (paths or {}).items():
        wanted[str(name)] = str(alias) if alias else wanted.get(str(name))
    return tuple(MountSpec(name, path) for name, path in wanted.items())


def _split_mount(entry: str) -> tuple[str, str | None]:
    for sep in (":", "="):
        if sep in entry:
            name, alias = entry.split(sep, 1)
            return name.strip(), alias.strip() or None
    return entry.strip(), None
