"""Plumbing every face shares: routing, error rendering, parameter reading, request context.

Nothing here speaks a face's wording: each face passes its own error table and renderer.
"""
