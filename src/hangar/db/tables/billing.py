"""Billing: the administrator's prices, meters of what ran and what was stored, daily limits.

Amounts are exact decimal text (the same on SQLite and PostgreSQL); user and project ids are
kept without foreign keys so that usage history outlives the users and projects it names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class BillingPriceRow(Base):
    """One price per hour: ``cpu``, ``memory``, ``storage`` or ``gpu:<type code>``."""

    __tablename__ = "billing_prices"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    per_hour: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime]


class BillingMeterRow(Base):
    """One period at one rate: a session's running time (``run``), a session's scratch disk
    (``disk``) or a volume's storage (``volume``); open while ``ended_at`` is null."""

    __tablename__ = "billing_meters"
    __table_args__ = (
        Index("ix_billing_meters_subject", "subject_kind", "subject_id"),
        Index("ix_billing_meters_origin", "origin_kind", "origin_ref"),
        Index(
            "uq_billing_meters_open",
            "subject_kind",
            "subject_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(64))
    origin_kind: Mapped[str] = mapped_column(String(32))
    origin_ref: Mapped[str | None] = mapped_column(String(256))
    user_uuid: Mapped[uuid.UUID] = mapped_column(index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rate: Mapped[str] = mapped_column(String(40))  # per hour
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the rate was made of
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]


class BillingLimitRow(Base):
    """A daily cost limit of a user or a project."""

    __tablename__ = "billing_limits"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    amount: Mapped[str] = mapped_column(String(40))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]
