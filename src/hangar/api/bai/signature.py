"""The Backend.AI request signature (HMAC over method, target, date, host, type, version).

Pure functions, byte-for-byte as the official ``backend.ai-client`` computes them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

from dateutil import parser as date_parser

from hangar.core.errors import InvalidAuthParams

SUPPORTED_VERSIONS = frozenset(
    {
        "v4.20181215",
        "v4.20190115",
        "v4.20190315",
        "v4.20190615",
        "v5.20191215",
        "v6.20200815",
        "v6.20210815",
        "v6.20220315",
    }
)
LATEST_VERSION = "v6.20220315"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Authorization:
    scheme: str  # "BackendAI" or the legacy "Sorna"
    hash_name: str  # hashlib name, e.g. "sha256"
    access_key: str
    signature: str


_USUAL = re.compile(
    r"(BackendAI|Sorna) signMethod=HMAC-(SHA256), credential=([^:,\s]+):([0-9a-fA-F]+)"
)


def parse_authorization(header: str) -> Authorization:
    """Parse ``BackendAI signMethod=HMAC-SHA256, credential=AK:SIG``.

    Raises InvalidAuthParams when the header does not have that shape.
    """
    usual = _USUAL.fullmatch(header)
    if usual is not None:  # what the official client always sends
        return Authorization(usual[1], "sha256", usual[3], usual[4])
    scheme, _, rest = header.strip().partition(" ")
    if scheme not in ("BackendAI", "Sorna") or not rest:
        raise InvalidAuthParams("Malformed authorization header")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidAuthParams("Malformed authorization header")
        fields[key] = value
    method = fields.get("signMethod", "")
    credential = fields.get("credential", "")
    access_key, sep, signature = credential.partition(":")
    if not sep or not access_key or not signature:
        raise InvalidAuthParams("Malformed authorization header")
    kind, _, hash_name = method.partition("-")
    hash_name = hash_name.lower()
    if kind.upper() != "HMAC" or hash_name not in hashlib.algorithms_guaranteed:
        raise InvalidAuthParams(f"Unsupported signing method: {method}")
    if hash_name.startswith("shake_"):
        raise InvalidAuthParams(f"Unsupported signing method: {method}")
    return Authorization(scheme, hash_name, access_key, signature)


def parse_date(value: str) -> datetime:
    """Parse the Date header: ISO-8601 (what the client sends) or RFC 1123; naive means UTC.

    Keeps the header's own offset, which the signing key derivation uses.
    """
    value = value.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            try:
                parsed = date_parser.parse(value)
            except (ValueError, OverflowError) as exc:
                raise InvalidAuthParams("Date/time sync error") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:  # dateutil accepts offsets of a day or more, which datetime cannot use
        parsed.timestamp()
    except (ValueError, OverflowError) as exc:
        raise InvalidAuthParams("Date/time sync error: invalid offset in the Date header") from exc
    return parsed


def media_type(content_type: str | None) -> str:
    """``multipart/form-data; boundary=x`` -> ``multipart/form-data``; absent -> octet-stream."""
    if not content_type:
        return DEFAULT_CONTENT_TYPE
    return content_type.split(";", 1)[0].strip().lower()


@lru_cache(maxsize=32)
def _empty_hash(hash_name: str) -> str:
    return hashlib.new(hash_name, b"").hexdigest()


def _day(date: datetime) -> str:
    return f"{date.year:04d}{date.month:02d}{date.day:02d}"


def derive_key(secret_key: str, hash_name: str, day: str, host: str) -> bytes:
    k1 = hmac.new(secret_key.encode(), day.encode(), hash_name).digest()
    return hmac.new(k1, host.encode(), hash_name).digest()


def string_to_sign(
    method: str,
    target: str,
    date_header: str,
    host: str,
    content_type: str,
    version: str,
    version_header_name: str,
    hash_name: str,
) -> str:
    return (
        f"{method.upper()}\n{target}\n{date_header}\n"
        f"host:{host}\ncontent-type:{content_type}\n"
        f"{version_header_name}:{version}\n{_empty_hash(hash_name)}"
    )


def sign(
    *,
    secret_key: str,
    hash_name: str,
    method: str,
    target: str,
    date_header: str,
    date: datetime,
    host: str,
    content_type: str,
    version: str,
    version_header_name: str = "x-backendai-version",
) -> str:
    """The lower-case hex signature of a request, as the official client computes it.

    The body hash is always that of the empty string (API >= v4.20181215).
    """
    return _UNCACHED.sign(
        secret_key=secret_key, hash_name=hash_name, method=method, target=target,
        date_header=date_header, date=date, host=host, content_type=content_type,
        version=version, version_header_name=version_header_name,
    )  # fmt: skip


class SigningKeys:
    """``sign`` with the derived key cached per (secret, hash, day, host): two of the three
    HMACs only change once a day."""

    def __init__(self, max_entries: int = 4096) -> None:
        # The keyed HMAC state itself is cached: copying it skips hashing the key pads.
        self._keys: dict[tuple[str, str, str, str], hmac.HMAC] = {}
        self._max = max_entries

    def sign(
        self,
        *,
        secret_key: str,
        hash_name: str,
        method: str,
        target: str,
        date_header: str,
        date: datetime,
        host: str,
        content_type: str,
        version: str,
        version_header_name: str = "x-backendai-version",
    ) -> str:
        cache_key = (secret_key, hash_name, _day(date), host)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= self._max:
                self._keys.clear()
            key = self._keys[cache_key] = hmac.new(derive_key(*cache_key), digestmod=hash_name)
        text = string_to_sign(
            method, target, date_header, host, content_type, version, version_header_name, hash_name
        )
        mac = key.copy()
        mac.update(text.encode())
        return mac.hexdigest()


def host_variants(host: str, scheme: str) -> list[str]:
    """The Host as received, then with the default port added or removed.

    The client signs ``host:port`` of its endpoint while aiohttp drops default ports.
    """
    default_port = "443" if scheme in ("https", "wss") else "80"
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return [host, name] if port == default_port else [host]
    return [host, f"{host}:{default_port}"]


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.lower().encode())


_UNCACHED = SigningKeys(max_entries=1)
