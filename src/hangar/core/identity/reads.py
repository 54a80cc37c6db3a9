"""Scoped reads of keypairs, resource policies, domains, groups and users."""

from __future__ import annotations

from hangar.core.identity import directory, queries
from hangar.core.scoped import Database, bind


class KeyPairReads:
    """Keypairs and resource policies (:mod:`hangar.core.identity.queries`), bound."""

    def __init__(self, db: Database) -> None:
        self.keypair = bind(db, queries.keypair)
        self.keypairs = bind(db, queries.keypairs)
        self.keypair_page = bind(db, queries.keypair_page)
        self.resource_policy = bind(db, queries.resource_policy)
        self.resource_policies = bind(db, queries.resource_policies)


class DirectoryReads:
    """Domains, groups and users (:mod:`hangar.core.identity.directory`), bound."""

    def __init__(self, db: Database) -> None:
        self.domain = bind(db, directory.domain)
        self.domains = bind(db, directory.domains)
        self.group = bind(db, directory.group)
        self.groups = bind(db, directory.groups)
        self.user = bind(db, directory.user)
        self.users = bind(db, directory.users)
        self.user_page = bind(db, directory.user_page)
