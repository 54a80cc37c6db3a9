"""How far a caller sees: every object, their domain's, or their own."""

from __future__ import annotations

from enum import StrEnum

from hangar.core.errors import Forbidden
from hangar.core.principal import Principal, Role


class Scope(StrEnum):
    ALL = "all"
    DOMAIN = "domain"
    OWN = "own"


def scope_of(caller: Principal) -> Scope:
    """How far the caller sees: the keypair's admin flag and the user's role both count."""
    if caller.is_admin and caller.role == Role.SUPERADMIN:
        return Scope.ALL
    if caller.is_admin and caller.role == Role.ADMIN:
        return Scope.DOMAIN
    return Scope.OWN


def check_domain(caller: Principal, domain_name: str | None) -> None:
    """Refuse a ``domain_name`` argument outside the caller's reach."""
    if domain_name is None or scope_of(caller) == Scope.ALL:
        return
    if domain_name != caller.domain_name:
        raise Forbidden("You may not look into another domain.")
