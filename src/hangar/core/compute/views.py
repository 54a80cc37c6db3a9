"""What session listings return."""

from __future__ import annotations

from dataclasses import dataclass

from hangar.core.compute.models import ComputeSession


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session with the names listings show next to it."""

    session: ComputeSession
    user_email: str
    group_name: str
    registry: str
    architecture: str
    mounts: list[str]
