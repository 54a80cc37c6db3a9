"""Request parameters as Backend.AI sends them: a JSON (or YAML) body, else the query string.

The official client sends JSON bodies even on GET and DELETE, and bodyless requests carry
``Content-Type: text/plain``; unknown keys are ignored.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from hangar.api.common.params import has_body, parse_body, read_body, validate
from hangar.core.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


class Params(BaseModel):
    """Base of Backend.AI request models: lenient about extra keys and aliases."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


async def raw_params(request: Request) -> dict[str, Any]:
    body = await read_body(request) if has_body(request) else b""
    if body.strip():
        ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        data = parse_body(body, yaml_text=ctype in ("text/yaml", "application/yaml"))
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return data
    if not request.scope.get("query_string"):
        return {}
    return dict(request.query_params)  # the face refuses NUL in query strings


async def read_params(request: Request, model: type[M]) -> M:
    return validate(model, await raw_params(request))
