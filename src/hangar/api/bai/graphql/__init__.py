"""GraphQL for the Backend.AI face: ``POST /admin/gql`` (and the legacy ``/admin/graphql``).

Names are snake_case exactly as the official client spells them (no camel-casing); response
keys follow the selection order, which the CLI's table printer relies on. Each module adds
its part of the schema (``sessions``, ``keypairs``); ``schema`` merges them and ``routes``
serves it. Resolvers read through the core's query functions only.
"""
