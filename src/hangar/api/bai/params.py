"""Request parameters as Backend.AI sends them: a JSON (or YAML) body, else the query string.

The official client sends JSON bodies even on GET and DELETE, and bodyless requests carry
``Content-Type: text/plain``; unknown keys are ignored.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from hangar.core.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


class Params(BaseModel):
    """Base of Backend.AI request models: lenient about extra keys and aliases."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)


def _has_body(request: Request) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


async def raw_params(request: Request) -> dict[str, Any]:
    body = await request.body() if _has_body(request) else b""
    if body.strip():
        ctype = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        try:
            data = (
                yaml.safe_load(body)
                if ctype in ("text/yaml", "application/yaml")
                else (json.loads(body))
            )
        except (ValueError, yaml.YAMLError) as exc:
            raise InvalidRequest(f"Malformed request body: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        return data
    if not request.scope.get("query_string"):
        return {}
    return dict(request.query_params)


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate into ``model``; errors become invalid-api-params with a field -> error map."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise InvalidRequest(summary, data=fields) from exc


async def read_params(request: Request, model: type[M]) -> M:
    return validate(model, await raw_params(request))
