"""The SDK and the server sign with one function: the same request gets the same signature."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hangar.client.auth import generate_signature
from hangar.util.signing import SigningKeys, sign

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = datetime(2022, 3, 15, 9, 30, 0, 123456, tzinfo=UTC)


@given(
    method=st.sampled_from(["GET", "POST", "delete"]),
    target=st.from_regex(r"/[a-z0-9/_?=&]{0,30}", fullmatch=True),
    host=st.sampled_from(["127.0.0.1:8090", "api.example.com"]),
)
def test_client_and_server_agree(method: str, target: str, host: str) -> None:
    fields = {
        "method": method, "target": target, "date_header": DATE.isoformat(), "date": DATE,
        "host": host, "content_type": "application/json", "version": "v6.20220315",
    }  # fmt: skip
    server = sign(secret_key=SECRET, hash_name="sha256", **fields)  # type: ignore[arg-type]
    cached = SigningKeys().sign(secret_key=SECRET, hash_name="sha256", **fields)  # type: ignore[arg-type]
    client = generate_signature(
        method=method, version="v6.20220315", host=host, date=DATE, rel_url=target,
        content_type="application/json", secret_key=SECRET,
    )  # fmt: skip
    assert server == cached == client
