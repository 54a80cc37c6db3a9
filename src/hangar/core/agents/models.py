"""What the core knows about an agent from its registry row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    status: str
    scaling_group: str
    schedulable: bool
    available_slots: dict[str, str]
    devices: list[dict[str, Any]]
    addr: str
    architecture: str
    version: str
    first_contact: datetime
    last_heartbeat: datetime
