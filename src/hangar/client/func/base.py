"""The base of function classes and the helpers they share."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hangar.client.exceptions import BackendAPIError, BackendClientError
from hangar.client.request import Request
from hangar.client.session import BaseSession, api_session

GRAPHQL_ERROR = "https://api.backend.ai/probs/graphql-error"


class BaseFunction:
    """Function classes reach the server through the session they are bound to.

    ``session.ComputeSession`` is bound to ``session``; the class imported directly falls back
    to the session most recently opened in the current context.
    """

    _bound: ClassVar[BaseSession | None] = None

    @classmethod
    def _session(cls) -> BaseSession:
        if cls._bound is not None:
            return cls._bound
        try:
            return api_session.get()
        except LookupError:
            raise BackendClientError("Open a Session or AsyncSession first.") from None

    @classmethod
    def _request(
        cls,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Request:
        rqst = Request(method, path, params=params, session=cls._session())
        if json is not None:
            rqst.set_json(json)
        return rqst

    @classmethod
    async def _call(
        cls,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send a request; return its JSON body (``None`` for an empty one)."""
        rqst = cls._request(method, path, params=params, json=json)
        async with rqst.fetch() as resp:
            body: bytes = await resp.read()
        if not body.strip():
            return None
        try:
            return jsonlib.loads(body)
        except ValueError:
            return body.decode("utf-8", errors="replace")

    @classmethod
    async def _graphql(cls, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """Run a GraphQL query; GraphQL errors raise BackendAPIError (graphql-error)."""
        body = await cls._call(
            "POST", "/admin/gql", json={"query": query, "variables": dict(variables or {})}
        )
        if not isinstance(body, dict):
            raise BackendClientError("The GraphQL endpoint answered with something else than JSON.")
        if body.get("errors"):
            raise BackendAPIError(
                400,
                "Bad request",
                {"type": GRAPHQL_ERROR, "title": "GraphQL-generated error", "data": body["errors"]},
            )
        return body.get("data")


def field_names(fields: Sequence[Any]) -> str:
    """A GraphQL selection from field names (strings or objects with ``field_ref``)."""
    return " ".join(str(getattr(f, "field_ref", f)) for f in fields)


async def paginated(
    cls: type[BaseFunction],
    root: str,
    variables: Mapping[str, tuple[Any, str]],
    fields: Sequence[Any],
    *,
    page_offset: int,
    page_size: int,
) -> dict[str, Any]:
    """One page of a paginated GraphQL list: ``{"total_count", "items"}``."""
    if not 0 < page_size <= 100:
        raise BackendClientError("page_size must be between 1 and 100.")
    declared = ["$limit: Int!", "$offset: Int!"] + [f"${k}: {t}" for k, (_, t) in variables.items()]
    passed = ["limit: $limit", "offset: $offset"] + [f"{k}: ${k}" for k in variables]
    query = (
        f"query({', '.join(declared)}) {{ {root}({', '.join(passed)}) "
        f"{{ items {{ {field_names(fields)} }} total_count }} }}"
    )
    values = {"limit": page_size, "offset": page_offset}
    values.update({k: v for k, (v, _) in variables.items()})
    data = await cls._graphql(query, values)
    result: dict[str, Any] = data[root]
    return {"total_count": result["total_count"], "items": result["items"]}


def local_files(files: Sequence[str | Path], basedir: str | Path | None) -> list[tuple[str, Path]]:
    """``(path relative to basedir, absolute path)`` of local files; basedir defaults to the
    current directory. Raises BackendClientError for a file outside of it."""
    base = Path.cwd() if basedir is None else Path(basedir).resolve()
    result = []
    for file in files:
        path = (base / file).resolve()
        try:
            result.append((str(path.relative_to(base)), path))
        except ValueError:
            raise BackendClientError(
                f'File "{path}" is outside of the base directory "{base}".'
            ) from None
    return result


def local_base(basedir: str | Path | None) -> Path:
    return Path.cwd() if basedir is None else Path(basedir).resolve()
