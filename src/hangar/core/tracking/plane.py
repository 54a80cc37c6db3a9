"""Tracking's parts, built together: each part's service is a field, wired by protocol."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.storage.plane import StoragePlane
from hangar.db.engine import DbSession
from hangar.settings import Settings


@dataclass
class TrackingPlane:
    """Experiment tracking as the faces reach it."""


def build_tracking_plane(
    settings: Settings,
    sessions: async_sessionmaker[DbSession],
    clock: Clock,
    storage: StoragePlane,
) -> TrackingPlane:
    del settings, sessions, clock, storage  # the parts take what they need as they arrive
    return TrackingPlane()
