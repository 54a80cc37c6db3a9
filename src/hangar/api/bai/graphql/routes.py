"""``POST /admin/gql``: GraphQL over signed JSON requests, always answered with 200.

The body is ``{"query", "variables", "operation_name"|"operationName"}``. Results are
``{"data": ...}`` plus ``"errors"`` when there are any; the client turns errors into a
``graphql-error`` exception itself. Undeclared variables are ignored.

``POST /admin/graphql`` is the pre-v6.20210815 form: it answers the bare ``data`` object and
reports errors as a ``400 graphql-error`` problem, as the reference manager did.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from hangar.api.bai.auth import user
from hangar.api.bai.errors import problem_response
from hangar.api.bai.graphql.context import Context
from hangar.api.bai.graphql.documents import MAX_QUERY_CHARS
from hangar.api.bai.graphql.schema import MAX_TOKENS, is_unexpected, schema
from hangar.api.bai.wording import message_of
from hangar.api.common.context import services_of
from hangar.api.common.params import NUL_MESSAGE, parse_body, read_body
from hangar.api.common.routing import Router
from hangar.core.errors import HangarError, InvalidRequest

router = Router(prefix="/admin")

INTERNAL_MESSAGE = "Internal server error."


async def _body(request: Request) -> tuple[str, dict[str, Any], str | None]:
    raw = await read_body(request)
    body = parse_body(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    query = body.get("query")
    if not isinstance(query, str):
        raise InvalidRequest("query: a GraphQL document is required", data={"query": "required"})
    if "\\u0000" in query or "\x00" in query:  # a NUL, raw or as a string escape
        raise InvalidRequest(NUL_MESSAGE)
    variables = body.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise InvalidRequest("variables: must be an object", data={"variables": "not an object"})
    operation = body.get("operation_name", body.get("operationName"))
    if operation is not None and not isinstance(operation, str):
        raise InvalidRequest("operation_name: must be a string")
    return query, variables, operation


def format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if is_unexpected(error):
        formatted["message"] = INTERNAL_MESSAGE
    elif isinstance(error.original_error, HangarError):
        formatted["message"] = message_of(error.original_error)
    formatted.setdefault("locations", None)
    formatted.setdefault("path", None)
    return formatted


def _operations(query: str) -> int:
    """How many operations a document defines (0 when it does not parse: the executor then
    reports the syntax error itself). Without a name, several are ambiguous."""
    if len(query) <= MAX_QUERY_CHARS:
        return _operations_cached(query)
    return _count_operations(query)


@lru_cache(maxsize=128)
def _operations_cached(query: str) -> int:
    return _count_operations(query)


def _count_operations(query: str) -> int:
    try:
        document = parse(query, max_tokens=MAX_TOKENS)  # bounded as the executor is
    except GraphQLError:
        return 0
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)


async def execute(request: Request) -> tuple[Any, list[dict[str, Any]]]:
    caller = user(request)
    query, variables, operation = await _body(request)
    if operation is None and _operations(query) > 1:
        message = "Must provide operation name if query contains multiple operations."
        return None, [{"message": message, "locations": None, "path": None}]
    context = Context(request=request, caller=caller, services=services_of(request))
    try:
        result: ExecutionResult = await schema.execute(
            query,
            variable_values=variables,
            context_value=context,
            operation_name=operation,
        )
    except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError) as exc:
        return None, [{"message": str(exc), "locations": None, "path": None}]
    errors = [format_error(e) for e in result.errors or ()]
    return result.data, errors


@router.post("/gql")
async def gql(request: Request) -> Response:
    data, errors = await execute(request)
    body: dict[str, Any] = {"data": data}
    if errors:
        body["errors"] = errors
    return JSONResponse(body)


@router.post("/graphql")
async def gql_legacy(request: Request) -> Response:
    data, errors = await execute(request)
    if errors:
        return problem_response(400, "graphql-error", "GraphQL-generated error", data=errors)
    return JSONResponse(data)
