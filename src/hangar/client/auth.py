"""Request signing: the HMAC scheme of the Backend.AI API (client side, see
:mod:`hangar.util.signing`)."""

from __future__ import annotations

from datetime import datetime

from hangar.util.signing import sign

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
    return sign(
        secret_key=secret_key, hash_name=hash_type, method=method, target=rel_url,
        date_header=date.isoformat(), date=date, host=host, content_type=content_type.lower(),
        version=version,
    )  # fmt: skip


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
