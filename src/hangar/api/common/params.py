"""Reading request parameters, for every face: bodies read up to a limit, JSON and YAML
parsed with the same checks, models validated into core ``InvalidRequest`` errors."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from hangar.core.errors import InvalidRequest, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 8 << 20
"""Largest parameter body (JSON, YAML, GraphQL) a face reads; file transfers stream instead."""


class _PlainYAML(yaml.SafeLoader):
    """YAML without aliases: a few aliases can make a small body expand without bound."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases are not accepted", mark)
        return super().compose_node(parent, index)


def parse_body(body: bytes, yaml_text: bool = False) -> Any:
    """A JSON (or YAML) document as Python data; InvalidRequest when it is malformed, nested
    too deep or holds text that is not valid Unicode (lone surrogates)."""
    try:
        if not yaml_text:
            data = orjson.loads(body)  # refuses lone surrogates; bounded nesting depth
        else:
            data = yaml.load(body, Loader=_PlainYAML)  # noqa: S506 - a safe loader
            orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)  # the same checks as JSON
    except (ValueError, TypeError, RecursionError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"Malformed request body: {exc}") from exc
    if (yaml_text or b"\\u0000" in body) and _holds_nul(data):
        raise InvalidRequest(NUL_MESSAGE)  # PostgreSQL cannot store NUL in text
    return data


NUL_MESSAGE = "Text parameters must not contain NUL characters."


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def has_body(request: Request) -> bool:
    """Whether the request declares a body (a length above zero, or a chunked one)."""
    headers = request.headers
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole request body, refused (413) as soon as it is known to exceed ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # as Starlette caches it: later reads and the error handler see it
    return body


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate into ``model``; errors become invalid-api-params with a field -> error map."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise InvalidRequest(summary, data=fields) from exc
