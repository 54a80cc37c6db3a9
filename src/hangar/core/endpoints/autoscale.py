"""How many workers an autoscaled endpoint wants now (pure).

With ``max_workers`` set, the load (tasks waiting + requests in flight) asks for
ceil(load / per_worker) workers within [min_workers, max_workers]; the count goes up at
once and comes down only after ``idle_seconds`` without load above it. With no load for
``idle_seconds`` an endpoint whose ``min_workers`` is 0 scales to zero; demand (a wake)
brings it back to at least one worker.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from hangar.core.endpoints.models import Scaling


def autoscaled(
    scaling: Scaling,
    current: int,
    load: int,
    active_at: datetime | None,
    woken_at: datetime | None,
    now: datetime,
) -> int:
    """The target for an endpoint wanting ``current`` workers now."""
    if not scaling.enabled:
        return current
    low, high = scaling.min_workers, max(scaling.max_workers, scaling.min_workers)
    idle = timedelta(seconds=scaling.idle_seconds)
    wanted = math.ceil(load / max(scaling.per_worker, 1))
    if woken_at is not None and now - woken_at < idle:
        wanted = max(wanted, 1)
    wanted = min(max(wanted, low), high)
    recently_active = active_at is not None and now - active_at < idle
    if wanted < current and recently_active:
        return min(current, high)
    return wanted
