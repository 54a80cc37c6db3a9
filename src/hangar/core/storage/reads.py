"""Scoped reads of virtual folders: each takes the caller and returns what it may see."""

from __future__ import annotations

from hangar.core.scoped import Database, bind
from hangar.core.storage import queries


class FolderReads:
    """The folder queries of :mod:`hangar.core.storage.queries`, bound to the database."""

    def __init__(self, db: Database) -> None:
        self.folder_page = bind(db, queries.folder_page)
