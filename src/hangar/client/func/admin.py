"""Admin: GraphQL queries and mutations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hangar.client.func.base import BaseFunction


class Admin(BaseFunction):
    """GraphQL queries; what a caller may see depends on the privilege of its keypair."""

    @classmethod
    async def query(cls, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """Run a GraphQL query or mutation and return its ``data``.

        Raises BackendAPIError (type graphql-error, ``data`` = the errors) when the server
        reports GraphQL errors.
        """
        return await cls._graphql(query, variables)
