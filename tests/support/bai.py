"""Signing Backend.AI requests in tests, the way the official client does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from hangar.api.bai.signature import LATEST_VERSION, media_type
from hangar.util.signing import sign


@dataclass(frozen=True)
class Signer:
    access_key: str
    secret_key: str
    host: str = "127.0.0.1:8090"

    def headers(
        self,
        method: str,
        target: str,
        *,
        content_type: str | None = "text/plain",
        date: datetime | None = None,
        version: str = LATEST_VERSION,
        hash_name: str = "sha256",
        secret_key: str | None = None,
    ) -> dict[str, str]:
        """Headers of a signed request; ``target`` is the path with its raw query."""
        when = date or datetime.now(UTC)
        date_header = when.isoformat()
        signature = sign(
            secret_key=secret_key or self.secret_key,
            hash_name=hash_name,
            method=method,
            target=target,
            date_header=date_header,
            date=when,
            host=self.host,
            content_type=media_type(content_type),
            version=version,
        )
        headers = {
            "Date": date_header,
            "X-BackendAI-Version": version,
            "Authorization": f"BackendAI signMethod=HMAC-{hash_name.upper()}, "
            f"credential={self.access_key}:{signature}",
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers


def target_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
