"""Request signing: the HMAC scheme of the Backend.AI API (client side)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = ["generate_signature", "sign_headers"]


def generate_signature(
    *,
    method: str,
    version: str,
    host: str,
    date: datetime,
    rel_url: str,
    content_type: str,
    secret_key: str,
    hash_type: str = "sha256",
) -> str:
    """The hex signature of one request.

    ``rel_url`` is the path with its raw query string, ``host`` the ``host[:port]`` of the
    endpoint, ``content_type`` the media type without parameters. The body is not part of
    the signature (its hash is always the hash of the empty string).
    """
    body_hash = hashlib.new(hash_type, b"").hexdigest()
    sign_str = (
        f"{method.upper()}\n{rel_url}\n{date.isoformat()}\n"
        f"host:{host}\ncontent-type:{content_type.lower()}\n"
        f"x-backendai-version:{version}\n{body_hash}"
    )
    key = hmac.new(secret_key.encode(), date.strftime("%Y%m%d").encode(), hash_type).digest()
    key = hmac.new(key, host.encode(), hash_type).digest()
    return hmac.new(key, sign_str.encode(), hash_type).hexdigest()


def sign_headers(
    *,
    method: str,
    version: str,
    host: str,
    date: datetime,
    rel_url: str,
    content_type: str,
    access_key: str,
    secret_key: str,
    hash_type: str = "sha256",
) -> dict[str, str]:
    """The ``Authorization`` header for a request."""
    signature = generate_signature(
        method=method,
        version=version,
        host=host,
        date=date,
        rel_url=rel_url,
        content_type=content_type,
        secret_key=secret_key,
        hash_type=hash_type,
    )
    return {
        "Authorization": f"BackendAI signMethod=HMAC-{hash_type.upper()}, "
        f"credential={access_key}:{signature}"
    }
