"""Scaling groups and which domains, groups and keypairs may use them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hangar.db.tables.base import Base


class ScalingGroupRow(Base):
    __tablename__ = "scaling_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    driver: Mapped[str] = mapped_column(String(64), default="static")
    driver_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduler: Mapped[str] = mapped_column(String(64), default="fifo")
    scheduler_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    wsproxy_addr: Mapped[str | None] = mapped_column(String(1024))


class ScalingGroupDomainRow(Base):
    __tablename__ = "sgroups_for_domains"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    domain: Mapped[str] = mapped_column(
        ForeignKey("domains.name", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    )


class ScalingGroupGroupRow(Base):
    __tablename__ = "sgroups_for_groups"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    group: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class ScalingGroupKeyPairRow(Base):
    __tablename__ = "sgroups_for_keypairs"

    scaling_group: Mapped[str] = mapped_column(
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    access_key: Mapped[str] = mapped_column(
        ForeignKey("keypairs.access_key", ondelete="CASCADE"), primary_key=True
    )
