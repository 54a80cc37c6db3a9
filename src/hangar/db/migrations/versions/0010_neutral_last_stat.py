"""sessions.last_stat: the container figures themselves, not Backend.AI's stat object

Up to 0009 the core stored Backend.AI's kernel stat object (string figures under
``current``/``stats.max``/``capacity``); from 0010 it stores the figures (ints named as the
agent reports them) and the Backend.AI face renders the stat object. Rows are converted
both ways.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
sessions = sa.table("sessions", sa.column("id", sa.Uuid), sa.column("last_stat", JSON))
CURRENT = {  # neutral name -> (stat object entry, key)
    "cpu_used": ("cpu_used", "current"),
    "mem_cur_bytes": ("mem", "current"),
    "mem_max_bytes": ("mem", "stats.max"),
    "net_rx_bytes": ("net_rx", "current"),
    "net_tx_bytes": ("net_tx", "current"),
    "io_read_bytes": ("io_read", "current"),
    "io_write_bytes": ("io_write", "current"),
    "io_cur_scratch_size": ("io_scratch_size", "current"),
    "io_max_scratch_size": ("io_scratch_size", "stats.max"),
    "io_scratch_limit": ("io_scratch_size", "capacity"),
}
UNITS = {"cpu_used": "msec"}


def _number(value: Any) -> int:
    try:
        return int(float(str(value)))
    except (TypeError, ValueError):
        return 0


def figures_of(stat: dict[str, Any]) -> dict[str, int]:
    """A stat object's figures; {} for one without any (a session that ended bare)."""
    found = {}
    for name, (entry, key) in CURRENT.items():
        part = stat.get(entry)
        if isinstance(part, dict) and part.get(key) is not None:
            found[name] = _number(part[key])
    return {name: found.get(name, 0) for name in CURRENT} if found else {}


def stat_of(figures: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"status": "terminated", "version": 2}
    for name, (entry, key) in CURRENT.items():
        value = _number(figures.get(name, 0))
        part = result.setdefault(entry, {"current": "0", "capacity": None, "pct": None,
                                         "unit_hint": UNITS.get(entry, "bytes")})  # fmt: skip
        if key == "capacity":
            if value > 0:
                part["capacity"] = str(value)
                cur = _number(figures.get("io_cur_scratch_size", 0))
                part["pct"] = f"{100 * cur / value:.2f}"
        else:
            part[key] = str(value)
    if figures:  # the figure now stands in for a missing one, the peak is never below it
        mem = result["mem"]
        if mem["current"] == "0":
            mem["current"] = mem["stats.max"]
        for entry in ("mem", "io_scratch_size"):
            part = result[entry]
            part["stats.max"] = str(max(_number(part["stats.max"]), _number(part["current"])))
        return result
    return {"status": "terminated", "version": 2}


def _convert(change: Any) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(sessions.c.id, sessions.c.last_stat).where(sessions.c.last_stat.is_not(None))
    ).all()
    for session_id, stat in rows:
        if isinstance(stat, dict):
            bind.execute(
                sessions.update().where(sessions.c.id == session_id).values(last_stat=change(stat))
            )


def upgrade() -> None:
    _convert(lambda stat: figures_of(stat) if "version" in stat else stat)


def downgrade() -> None:
    _convert(lambda stat: stat if "version" in stat else stat_of(stat))
