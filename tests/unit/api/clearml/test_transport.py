"""The ClearML face's pure parts: query parameters, bodies and batches, validation codes,
the error table and login tokens."""

from __future__ import annotations

import uuid

import jwt
import pytest
from pydantic import BaseModel, ConfigDict

from hangar.api.clearml import tokens
from hangar.api.clearml.errors import ClearmlError, result_of
from hangar.api.clearml.params import batch_items, body_of, query_params, validate
from hangar.core.errors import (
    Conflict,
    HangarError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)
from hangar.core.principal import Credential, CredentialKind, Principal, Role

KEY = b"k" * 32


def codes(exc: ClearmlError) -> tuple[int, int]:
    return exc.result_code, exc.subcode


def test_query_parameters_nest_type_and_list() -> None:
    query = b"expiration_sec=60&enabled=true&a.b=x&a.c=1.5&k[]=1&r=1&r=2&empty="
    assert query_params(query) == {
        "expiration_sec": 60, "enabled": True, "a": {"b": "x", "c": 1.5}, "k": [1],
        "r": [1, 2], "empty": "",
    }  # fmt: skip
    assert query_params(b"n=nan&i=inf") == {"n": "nan", "i": "inf"}
    with pytest.raises(ClearmlError) as nul:
        query_params(b"a=%00")
    assert codes(nul.value) == (400, 12)


def test_bodies_merge_the_query_and_drop_top_level_nulls() -> None:
    body, batch = body_of(b'{"task": null, "x": {"y": null}}', "application/json", b"task=1&z=2")
    assert body == {"x": {"y": None}, "z": 2} and batch is None
    assert body_of(b"", "", b"") == ({}, None)
    assert body_of(b"[1]", "application/json", b"") == ({}, [1])
    assert body_of(b"{}\n{}", "application/json-lines; charset=utf-8", b"")[1] == b"{}\n{}"
    for raw in (b"{", b'"text"', b"1"):
        with pytest.raises(ClearmlError) as bad:
            body_of(raw, "application/json", b"")
        assert codes(bad.value) == (400, 12)


def test_batches_must_hold_objects() -> None:
    assert batch_items(b'{"a": 1}\n\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    assert batch_items([{"a": 1}]) == [{"a": 1}]
    for empty in (b"", b"\n \n", [], None):
        with pytest.raises(ClearmlError) as none:
            batch_items(empty)
        assert codes(none.value) == (400, 17)
    for wrong in (b"{}\n[1]", b"{}\n{", [{}, 3]):
        with pytest.raises(ClearmlError) as bad:
            batch_items(wrong)
        assert codes(bad.value) == (400, 12)


class Needs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task: str
    force: bool = False


def test_validation_names_missing_and_wrong_fields() -> None:
    assert validate(Needs, {"task": "t", "method": "get"}).task == "t"
    with pytest.raises(ClearmlError) as missing:
        validate(Needs, {"force": True})
    assert codes(missing.value) == (400, 11) and "task" in missing.value.message
    with pytest.raises(ClearmlError) as wrong:
        validate(Needs, {"task": ["x"]})
    assert codes(wrong.value) == (400, 12) and "task" in wrong.value.message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFound("task"), (400, 101)),
        (NotFound("project"), (400, 401)),
        (NotFound("model"), (400, 201)),
        (NotFound("queue"), (400, 701)),
        (NotFound("credentials"), (400, 10)),
        (InvalidRequest("x"), (400, 12)),
        (PayloadTooLarge("x"), (413, 0)),
        (Conflict(), (400, 121)),
        (RateLimited(), (429, 0)),
        (ClearmlError(400, 110, "x"), (400, 110)),
    ],
)
def test_the_error_table(error: HangarError, expected: tuple[int, int]) -> None:
    assert result_of(error) == expected


PRINCIPAL = Principal(
    user_uuid=uuid.UUID(int=7), email="u@x", domain_name="lab", role=Role.USER,
    credential=Credential(CredentialKind.BAI_KEYPAIR, "AK"),
)  # fmt: skip


def test_tokens_carry_the_claims_and_verify_signature_and_expiry() -> None:
    token = tokens.issue(KEY, tokens.Holder(PRINCIPAL, "AK", "User"), now=1000, lifetime=60)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["api_version"] == "2.31" and payload["feature_set"] == "basic"
    assert payload["identity"]["company"] == "lab" and payload["identity"]["role"] == "user"
    assert (payload["iat"], payload["exp"]) == (1000, 1060)
    claims = tokens.verify(KEY, token, now=1059)
    assert (claims.access_key, claims.user, claims.expires) == (
        "AK",
        str(PRINCIPAL.user_uuid),
        1060,
    )
    for bad_key, now in ((KEY, 1060), (b"o" * 32, 1000)):
        with pytest.raises(ClearmlError) as refused:
            tokens.verify(bad_key, token, now=now)
        assert codes(refused.value) == (401, 30)
    unsigned = jwt.encode({**payload}, KEY * 2, algorithm="HS512")  # another algorithm
    with pytest.raises(ClearmlError):
        tokens.verify(KEY, unsigned, now=1000)
