"""Parsed and validated GraphQL documents, kept by query text across requests.

Clients send the same few query texts again and again (``backend.ai ps`` sends one), and
parsing plus validating a document cost several times more than resolving it. The cache
holds what strawberry itself computed: a document that does not parse is never stored (the
next request fails the same way, in strawberry's own error path), and validation errors are
stored with the document, so a cached answer is exactly the uncached one. Validation depends
only on the text and on the schema's fixed rules, never on variables.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension

MAX_ENTRIES = 128
MAX_QUERY_CHARS = 16 * 1024  # larger texts are parsed every time: not worth the memory


class _Entry:
    __slots__ = ("document", "errors")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document
        self.errors: list[GraphQLError] | None = None  # None: not validated yet


_entries: OrderedDict[str, _Entry] = OrderedDict()


def _get(query: str) -> _Entry | None:
    entry = _entries.get(query)
    if entry is not None:
        _entries.move_to_end(query)
    return entry


def _put(query: str, document: DocumentNode) -> _Entry:
    entry = _entries[query] = _Entry(document)
    if len(_entries) > MAX_ENTRIES:
        _entries.popitem(last=False)
    return entry


class DocumentCache(SchemaExtension):
    """Reuses the parse and the validation of a query text seen before (per request, as a
    factory; the entries are shared)."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        query = ctx.query
        cacheable = query is not None and len(query) <= MAX_QUERY_CHARS
        entry = _get(query) if cacheable and query is not None else None
        if entry is not None:
            ctx.graphql_document = entry.document  # strawberry then skips its parse
        yield
        if cacheable and query is not None and entry is None and ctx.graphql_document:
            _put(query, ctx.graphql_document)

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        entry = _get(ctx.query) if ctx.query is not None else None
        if entry is not None and entry.document is not ctx.graphql_document:
            entry = None
        if entry is not None and entry.errors is not None:
            ctx.pre_execution_errors = list(entry.errors)  # strawberry then skips validation
        yield
        if entry is not None and entry.errors is None and ctx.pre_execution_errors is not None:
            entry.errors = list(ctx.pre_execution_errors)


__all__ = ["DocumentCache"]
