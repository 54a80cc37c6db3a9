"""Faces never hold a database handle: they call the core's services and scoped reads.

import-linter keeps ``hangar.api`` from importing ``hangar.db``; this catches what it cannot
see, a face reaching the sessionmaker or the engine through the services object.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hangar.api

HANDLES = {"sessions", "engine"}


def reaches_handle(node: ast.AST) -> bool:
    """``<...>services.sessions`` or ``<...>services.engine``."""
    if not isinstance(node, ast.Attribute) or node.attr not in HANDLES:
        return False
    return owner_name(node) == "services"


def owner_name(node: ast.Attribute) -> str:
    owner = node.value
    if isinstance(owner, ast.Attribute):
        return owner.attr
    return owner.id if isinstance(owner, ast.Name) else ""


def test_no_face_module_touches_the_sessionmaker() -> None:
    root = Path(hangar.api.__file__).parent
    found = [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and reaches_handle(node)
    ]
    assert not found, found


def test_the_check_sees_a_handle() -> None:
    tree = ast.parse("queries.session(ctx.services.sessions, caller, sid)")
    assert any(reaches_handle(node) for node in ast.walk(tree))
