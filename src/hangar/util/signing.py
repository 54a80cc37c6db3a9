"""The Backend.AI request signature: an HMAC over method, target, date, host, media type and
API version, keyed by a key derived from the secret key, the day and the host.

Both ends use it: the SDK signs its requests, the server checks them (byte for byte as the
official ``backend.ai-client`` computes them). The body hash is always that of the empty
string (API >= v4.20181215).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import lru_cache

VERSION_HEADER = "x-backendai-version"


@lru_cache(maxsize=32)
def _empty_hash(hash_name: str) -> str:
    return hashlib.new(hash_name, b"").hexdigest()


def day_of(date: datetime) -> str:
    """``YYYYMMDD``: the day part of the signing key."""
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


class SigningKeys:
    """Signs requests, with the derived key cached per (secret, hash, day, host): two of the
    three HMACs only change once a day."""

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
        version_header_name: str = VERSION_HEADER,
    ) -> str:
        """The lower-case hex signature of a request."""
        cache_key = (secret_key, hash_name, day_of(date), host)
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


# One request's signature, with no key cache kept across days and hosts.
sign = SigningKeys(max_entries=1).sign
