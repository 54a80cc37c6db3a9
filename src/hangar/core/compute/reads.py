"""Scoped reads of compute sessions: each takes the caller and returns what it may see."""

from __future__ import annotations

from hangar.core.compute import queries
from hangar.core.scoped import Database, bind


class SessionReads:
    """The session queries of :mod:`hangar.core.compute.queries`, bound to the database."""

    def __init__(self, db: Database) -> None:
        self.session = bind(db, queries.session)
        self.session_page = bind(db, queries.session_page)
        self.session_list = bind(db, queries.session_list)
        self.dependencies_of = bind(db, queries.dependencies_of)
