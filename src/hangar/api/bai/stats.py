"""Backend.AI's kernel stat objects, rendered from the core's container figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hangar.agent.models import ContainerStats
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.stats import Ended, stats_of


def stat_object(status: str, stats: ContainerStats | None) -> dict[str, Any]:
    """A kernel stat object as Backend.AI writes it (values are strings, as the CLI expects).

    ``mem`` and ``io_scratch_size`` carry the figure now as ``current`` and the peak as
    ``stats.max`` (what ``backend.ai run`` prints at the end, and "Max Used Memory"). Where
    the runtime cannot measure current memory (no cgroup), the peak stands in for it.
    """
    result: dict[str, Any] = {"status": status, "version": 2}
    if stats is None:
        return result
    units = {
        "cpu_used": "msec",
        "mem": "bytes",
        "io_read": "bytes",
        "io_write": "bytes",
        "io_scratch_size": "bytes",
        "net_rx": "bytes",
        "net_tx": "bytes",
    }
    values = {
        "cpu_used": stats.cpu_used,
        "mem": stats.mem_cur_bytes or stats.mem_max_bytes,
        "io_read": stats.io_read_bytes,
        "io_write": stats.io_write_bytes,
        "io_scratch_size": stats.io_cur_scratch_size,
        "net_rx": stats.net_rx_bytes,
        "net_tx": stats.net_tx_bytes,
    }
    for name, value in values.items():
        result[name] = {
            "current": str(value),
            "capacity": None,
            "pct": None,
            "unit_hint": units[name],
        }
    if stats.io_scratch_limit > 0:  # the scratch disk's size
        scratch = result["io_scratch_size"]
        scratch["capacity"] = str(stats.io_scratch_limit)
        scratch["pct"] = f"{100 * stats.io_cur_scratch_size / stats.io_scratch_limit:.2f}"
    peaks = {"mem": stats.mem_max_bytes, "io_scratch_size": stats.io_max_scratch_size}
    for name, peak in peaks.items():
        result[name]["stats.max"] = str(max(peak, int(result[name]["current"])))
    return result


def ended_stat(ended: Ended) -> dict[str, Any]:
    """The stat object a destroy request answers with."""
    return stat_object("cancelled" if ended.status == SessionStatus.CANCELLED else "terminated",
                       ended.stats)  # fmt: skip


def last_stat(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A session's ``lastStat``: None until it ended."""
    return None if record is None else stat_object("terminated", stats_of(record))
