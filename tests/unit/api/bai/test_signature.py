"""The request signature, checked against fixed vectors and the official client itself."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hangar.api.bai.signature import (
    host_variants,
    media_type,
    parse_authorization,
    parse_date,
)
from hangar.core.errors import InvalidAuthParams
from hangar.util.signing import sign

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DATE = "2022-03-15T09:30:00.123456+00:00"
OFFICIAL_PYTHON = Path(__file__).parents[4] / ".official-clients" / "bai" / "bin" / "python"


def _sign(
    method: str,
    target: str,
    ctype: str,
    *,
    date: str = DATE,
    host: str = "127.0.0.1:8090",
    secret: str = SECRET,
    hash_name: str = "sha256",
) -> str:
    return sign(
        secret_key=secret,
        hash_name=hash_name,
        method=method,
        target=target,
        date_header=date,
        date=parse_date(date),
        host=host,
        content_type=ctype,
        version="v6.20220315",
    )


@pytest.mark.parametrize(
    ("method", "target", "ctype", "expected"),
    [
        (
            "POST",
            "/session",
            "application/json",
            "a750503ac06bdd246a32c4cdd3610625f9bbc9c42b5615d31b65d41bd11dad8a",
        ),
        (
            "GET",
            "/folders/_/hosts",
            "text/plain",
            "36d915824cf5c1324eb5f40e40f65659c042624fdf5c95bf3cef8ff4f42e8155",
        ),
        (
            "GET",
            "/events/session?sessionName=mysess&scope=*",
            "application/octet-stream",
            "6fbc934e35f85e5b534e3d06d3f230a93db8aec49801ba267070974339a43603",
        ),
    ],
)
def test_published_vectors(method: str, target: str, ctype: str, expected: str) -> None:
    assert _sign(method, target, ctype) == expected


def test_every_input_changes_the_signature() -> None:
    base = _sign("GET", "/a?x=1", "text/plain")
    assert _sign("POST", "/a?x=1", "text/plain") != base
    assert _sign("GET", "/a?x=2", "text/plain") != base
    assert _sign("GET", "/a?x=1", "application/json") != base
    assert _sign("GET", "/a?x=1", "text/plain", host="127.0.0.1:8091") != base
    assert _sign("GET", "/a?x=1", "text/plain", secret=SECRET[:-1] + "X") != base
    assert _sign("GET", "/a?x=1", "text/plain", date="2022-03-15T09:30:01+00:00") != base


_official_cases = st.lists(
    st.fixed_dictionaries(
        {
            "method": st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "get"]),
            "rel_url": st.from_regex(
                r"/[a-z_/]{0,20}(\?[a-z]{1,5}=[a-zA-Z0-9%*+]{0,8})?", fullmatch=True
            ),
            "ctype": st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "application/octet-stream",
                    "multipart/form-data",
                ]
            ),
            "host": st.sampled_from(["127.0.0.1:8090", "localhost:1", "example.com:443"]),
            "secret": st.text(
                st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
            ),
            "hash_type": st.sampled_from(["sha256", "sha1", "sha512", "md5"]),
            "seconds": st.integers(0, 2_000_000_000),
            "micros": st.integers(0, 999_999),
        }
    ),
    min_size=20,
    max_size=20,
)

_OFFICIAL_SCRIPT = """
import json, sys
from datetime import datetime
from dateutil.tz import tzutc
from yarl import URL
from ai.backend.client.auth import generate_signature
out = []
for c in json.load(sys.stdin):
    date = datetime.fromtimestamp(c["seconds"], tzutc()).replace(microsecond=c["micros"])
    hdrs, sig = generate_signature(
        method=c["method"], version="v6.20220315", endpoint=URL("http://" + c["host"]),
        date=date, rel_url=c["rel_url"], content_type=c["ctype"], access_key="AKIATEST",
        secret_key=c["secret"], hash_type=c["hash_type"])
    out.append({"sig": sig, "date": date.isoformat(), "auth": hdrs["Authorization"]})
json.dump(out, sys.stdout)
"""


@pytest.mark.skipif(not OFFICIAL_PYTHON.exists(), reason="official client not installed")
@settings(max_examples=5, deadline=None)
@given(cases=_official_cases)
def test_matches_the_official_client(cases: list[dict[str, object]]) -> None:
    proc = subprocess.run(
        [str(OFFICIAL_PYTHON), "-c", _OFFICIAL_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for case, theirs in zip(cases, json.loads(proc.stdout), strict=True):
        auth = parse_authorization(theirs["auth"])
        assert auth.access_key == "AKIATEST"
        assert auth.hash_name == case["hash_type"]
        ours = sign(
            secret_key=str(case["secret"]),
            hash_name=auth.hash_name,
            method=str(case["method"]),
            target=str(case["rel_url"]),
            date_header=theirs["date"],
            date=parse_date(theirs["date"]),
            host=str(case["host"]),
            content_type=str(case["ctype"]),
            version="v6.20220315",
        )
        assert ours == theirs["sig"] == auth.signature


@pytest.mark.parametrize(
    "header",
    [
        "",
        "BackendAI",
        "Bearer abc",
        "BackendAI signMethod=HMAC-SHA256",
        "BackendAI signMethod=HMAC-SHA256, credential=AKIA",
        "BackendAI signMethod=HMAC-SHA256, credential=:abc",
        "BackendAI signMethod=RSA-SHA256, credential=AKIA:abc",
        "BackendAI signMethod=HMAC-NOPE, credential=AKIA:abc",
        "BackendAI signMethod=HMAC-SHAKE_128, credential=AKIA:abc",
        "BackendAI signMethodHMAC-SHA256, credential=AKIA:abc",
    ],
)
def test_malformed_authorization_is_refused(header: str) -> None:
    with pytest.raises(InvalidAuthParams):
        parse_authorization(header)


def test_authorization_forms() -> None:
    auth = parse_authorization("BackendAI signMethod=HMAC-SHA256, credential=AKIAX:ab12")
    assert (auth.scheme, auth.hash_name, auth.access_key, auth.signature) == (
        "BackendAI",
        "sha256",
        "AKIAX",
        "ab12",
    )
    legacy = parse_authorization("Sorna signMethod=hmac-sha1, credential=AK:x")
    assert (legacy.scheme, legacy.hash_name) == ("Sorna", "sha1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DATE, datetime(2022, 3, 15, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2022-03-15T09:30:00", datetime(2022, 3, 15, 9, 30, tzinfo=UTC)),
        ("Tue, 15 Mar 2022 09:30:00 GMT", datetime(2022, 3, 15, 9, 30, tzinfo=UTC)),
        ("2022-03-15T18:30:00+09:00", datetime(2022, 3, 15, 9, 30, tzinfo=UTC)),
    ],
)
def test_dates(value: str, expected: datetime) -> None:
    assert parse_date(value) == expected


def test_date_keeps_its_offset_for_the_key_derivation() -> None:
    parsed = parse_date("2022-03-15T01:30:00+09:00")
    assert parsed.utcoffset() == timedelta(hours=9)
    assert parsed.tzinfo != UTC
    assert parsed.strftime("%Y%m%d") == "20220315"  # the UTC day would be 20220314


@pytest.mark.parametrize("value", ["", "yesterday-ish", "2022-13-45T99:00:00"])
def test_bad_dates(value: str) -> None:
    with pytest.raises(InvalidAuthParams):
        parse_date(value)


def test_media_type() -> None:
    assert media_type(None) == "application/octet-stream"
    assert media_type("") == "application/octet-stream"
    assert media_type("Multipart/Form-Data; boundary=xyz") == "multipart/form-data"
    assert media_type("application/json") == "application/json"


def test_host_variants_cover_default_ports() -> None:
    assert host_variants("h:8090", "http") == ["h:8090"]
    assert host_variants("h", "http") == ["h", "h:80"]
    assert host_variants("h:80", "http") == ["h:80", "h"]
    assert host_variants("h", "https") == ["h", "h:443"]
    assert host_variants("[::1]", "http") == ["[::1]", "[::1]:80"]
    assert host_variants("[::1]:80", "http") == ["[::1]:80", "[::1]"]
