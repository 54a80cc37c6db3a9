"""A call's parameters: the JSON body of any method, query parameters merged in, json-lines
batches, and validation into ClearML's error codes.

Unknown keys are ignored everywhere (the clients send junk keys such as ``"method": "get"``)
and a top-level ``null`` means "absent".
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError

from hangar.api.clearml.errors import ClearmlError
from hangar.api.common.params import NUL_MESSAGE, parse_body

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 16 << 20
"""The SDK sends up to 15 MiB per request (``api.http.max_req_size``), splitting batches."""

JSON_LINES = "application/json-lines"


def validation_error(message: str, data: dict[str, Any] | None = None) -> ClearmlError:
    return ClearmlError(400, 12, message, data=data)


def _scalar(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


def query_params(query: bytes) -> dict[str, Any]:
    """Query parameters as body keys: ``a.b=1`` nests, numbers and booleans are typed,
    ``k[]`` or a repeated key makes a list."""
    params: dict[str, Any] = {}
    for raw_key, raw_value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in raw_key or "\x00" in raw_value:
            raise validation_error(NUL_MESSAGE)
        listed = raw_key.endswith("[]")
        *parents, leaf = (raw_key[:-2] if listed else raw_key).split(".")
        target = params
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        value = _scalar(raw_value)
        if leaf in target:
            old = target[leaf]
            target[leaf] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            target[leaf] = [value] if listed else value
    return params


def parse_json(raw: bytes) -> Any:
    """One JSON document; 400/12 when it is malformed."""
    try:
        return parse_body(raw)
    except Exception as exc:  # InvalidRequest with the parser's words
        raise validation_error(str(exc)) from exc


def body_of(raw: bytes, content_type: str, query: bytes) -> tuple[dict[str, Any], Any]:
    """(the call's body, its batch or None). A json-lines body is a batch, so is a JSON array;
    the body then holds the query parameters only."""
    body: dict[str, Any] = query_params(query) if query else {}
    batch: Any = None
    if content_type.split(";", 1)[0].strip().lower() == JSON_LINES:
        batch = raw
    elif raw.strip():
        document = parse_json(raw)
        if isinstance(document, dict):
            body.update(document)
        elif isinstance(document, list):
            batch = document
        else:
            raise validation_error("The request body must be a JSON object")
    return {k: v for k, v in body.items() if v is not None}, batch


def batch_items(batch: Any) -> list[dict[str, Any]]:
    """The objects of a batch (json-lines, or a JSON array): 400/17 when there are none,
    400/12 when one line is not a JSON object."""
    if isinstance(batch, bytes):
        items = [parse_json(line) for line in batch.splitlines() if line.strip()]
    else:
        items = list(batch or ())
    if not items:
        raise ClearmlError(400, 17, "Batch request contains no items")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise validation_error(f"Batch item {index} is not a JSON object")
    return items


def validate(model: type[M], body: dict[str, Any]) -> M:
    """``body`` as ``model`` (declare ``extra="ignore"``): 400/11 naming the missing required
    fields, else 400/12 naming the fields in error."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        fields = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in errors}
        missing = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "missing"]
        if missing:
            raise ClearmlError(
                400, 11, f"Missing required fields: {', '.join(missing)}", data={"fields": fields}
            ) from None
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise validation_error(f"Validation error: {summary}", {"fields": fields}) from None
