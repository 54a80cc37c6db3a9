"""The schema: every part's Query merged, snake_case names, Backend.AI's scalars."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from hangar.api.bai.graphql.agents import AgentMutation, AgentQuery
from hangar.api.bai.graphql.directory import DirectoryMutation, DirectoryQuery
from hangar.api.bai.graphql.documents import DocumentCache
from hangar.api.bai.graphql.images import ImageMutation, ImageQuery
from hangar.api.bai.graphql.keypair_admin import KeyPairMutation
from hangar.api.bai.graphql.keypairs import KeyPairQuery
from hangar.api.bai.graphql.scalars import SCALARS
from hangar.api.bai.graphql.scaling import ScalingGroupMutation, ScalingGroupQuery
from hangar.api.bai.graphql.sessions import SessionQuery
from hangar.api.bai.graphql.vfolders import VFolderQuery
from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api.bai.graphql")

QUERY_PARTS: tuple[type, ...] = (
    SessionQuery,
    KeyPairQuery,
    AgentQuery,
    DirectoryQuery,
    ScalingGroupQuery,
    ImageQuery,
    VFolderQuery,
)
# Bounds on one document's work. The official client's deepest query nests five levels
# and uses no aliases; a document past these gets a GraphQL error before anything runs.
MAX_DEPTH = 15  # the standard introspection query needs 13
MAX_ALIASES = 100
MAX_TOKENS = 20_000

MUTATION_PARTS: tuple[type, ...] = (
    KeyPairMutation,
    AgentMutation,
    DirectoryMutation,
    ScalingGroupMutation,
    ImageMutation,
)


def is_unexpected(error: GraphQLError) -> bool:
    """An error no one raised on purpose: a bug inside a resolver."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, HangarError | GraphQLError)
        and error.path is not None
    )


class BaiSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                log.error(
                    "GraphQL resolver failed at %s",
                    ".".join(str(p) for p in error.path or ()),
                    exc_info=error.original_error,
                )
            else:
                log.debug("GraphQL error: %s", error.message)


def build_schema() -> strawberry.Schema:
    query = merge_types("Query", QUERY_PARTS)
    mutation = merge_types("Mutation", MUTATION_PARTS)
    return BaiSchema(
        query=query,
        mutation=mutation,
        config=StrawberryConfig(auto_camel_case=False, scalar_map=SCALARS),
        extensions=[  # factories: each request gets its own extension instances
            DocumentCache,
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        ],
    )


schema = build_schema()
