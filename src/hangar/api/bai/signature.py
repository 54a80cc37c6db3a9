"""The Backend.AI request signature as the server reads it: the Authorization and Date
headers, the API versions, the Host variants a client may have signed.

The signature itself is :mod:`hangar.util.signing`, shared with the SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

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
