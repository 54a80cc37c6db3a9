"""The declarative base every table module shares, its type map, and status sets that several
domains count by."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    MetaData,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

from hangar.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON().with_variant(JSONB(), "postgresql"),
        list[str]: JSON().with_variant(JSONB(), "postgresql"),
        list[Any]: JSON().with_variant(JSONB(), "postgresql"),
        dict[str, Any] | None: JSON().with_variant(JSONB(), "postgresql"),
        uuid.UUID: Uuid(),
    }


LIVE_STATUSES_SQL = "status NOT IN ('TERMINATED', 'CANCELLED')"
HOLDING_STATUSES = ("SCHEDULED", "PREPARING", "PULLING", "RUNNING", "RESTARTING", "TERMINATING")
"""Session statuses that occupy agent slots, for domains that count sessions without
importing compute (the same set as ``hangar.core.compute.states.HOLDS_RESOURCES``)."""
