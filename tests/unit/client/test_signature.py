"""The client's request signatures match the documented test vectors bit for bit."""

from __future__ import annotations

from datetime import datetime

import pytest

from hangar.client.auth import generate_signature, sign_headers

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = datetime.fromisoformat("2022-03-15T09:30:00.123456+00:00")


@pytest.mark.parametrize(
    ("method", "target", "ctype", "expected"),
    [
        ("POST", "/session", "application/json",
         "a750503ac06bdd246a32c4cdd3610625f9bbc9c42b5615d31b65d41bd11dad8a"),
        ("GET", "/folders/_/hosts", "text/plain",
         "36d915824cf5c1324eb5f40e40f65659c042624fdf5c95bf3cef8ff4f42e8155"),
        ("GET", "/events/session?sessionName=mysess&scope=*", "application/octet-stream",
         "6fbc934e35f85e5b534e3d06d3f230a93db8aec49801ba267070974339a43603"),
    ],
)  # fmt: skip
def test_signature_vectors(method: str, target: str, ctype: str, expected: str) -> None:
    signature = generate_signature(
        method=method,
        version="v6.20220315",
        host="127.0.0.1:8090",
        date=DATE,
        rel_url=target,
        content_type=ctype,
        secret_key=SECRET,
    )
    assert signature == expected


def test_authorization_header_names_the_key_and_method() -> None:
    headers = sign_headers(
        method="GET", version="v6.20220315", host="h:1", date=DATE, rel_url="/",
        content_type="text/plain", access_key="AKIA", secret_key=SECRET,
    )  # fmt: skip
    assert headers["Authorization"].startswith("BackendAI signMethod=HMAC-SHA256, credential=AKIA:")
