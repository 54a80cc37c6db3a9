"""Binding read queries to the database, so that callers outside the core never hold it.

A domain's scoped reads are its query functions with the sessionmaker bound: the face calls
``reads.sessions.session(caller, session_id)`` and gets only what that caller may see.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.db.engine import DbSession

P = ParamSpec("P")
R = TypeVar("R")

Database = async_sessionmaker[DbSession]


def bind(
    db: Database, query: Callable[Concatenate[Database, P], Awaitable[R]]
) -> Callable[P, Awaitable[R]]:
    """``query`` with its first argument, the sessionmaker, given (the rest keep their types)."""
    return functools.partial(query, db)
