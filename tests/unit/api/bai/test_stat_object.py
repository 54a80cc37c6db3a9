"""Backend.AI stat objects rendered from the figures the core keeps for a session."""

from __future__ import annotations

from hangar.agent.models import ContainerStats
from hangar.api.bai.stats import ended_stat, last_stat, stat_object
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.stats import Ended, stats_of, stats_record

BARE = {"status": "terminated", "version": 2}


def test_a_session_that_has_not_ended_has_no_last_stat() -> None:
    assert last_stat(None) is None
    assert last_stat(stats_record(None)) == BARE  # ended without figures


def test_figures_become_string_entries_with_the_peak() -> None:
    figures = ContainerStats(cpu_used=120, mem_max_bytes=4096, io_scratch_limit=1000,
                             io_cur_scratch_size=250, io_max_scratch_size=300)  # fmt: skip
    stat = last_stat(stats_record(figures))
    assert stat is not None
    assert stat["cpu_used"] == {"current": "120", "capacity": None, "pct": None,
                                "unit_hint": "msec"}  # fmt: skip
    # no current memory figure (no cgroup): the peak stands in for it
    assert (stat["mem"]["current"], stat["mem"]["stats.max"]) == ("4096", "4096")
    scratch = stat["io_scratch_size"]
    assert (scratch["capacity"], scratch["pct"], scratch["stats.max"]) == ("1000", "25.00", "300")


def test_a_destroy_answers_cancelled_or_terminated() -> None:
    assert ended_stat(Ended(SessionStatus.CANCELLED)) == {"status": "cancelled", "version": 2}
    stat = ended_stat(Ended(SessionStatus.TERMINATED, ContainerStats(net_rx_bytes=5)))
    assert stat["status"] == "terminated" and stat["net_rx"]["current"] == "5"
    assert stat_object("running", None) == {"status": "running", "version": 2}


def test_the_kept_figures_read_back_and_ignore_what_is_not_a_number() -> None:
    figures = ContainerStats(cpu_used=1, mem_cur_bytes=2, io_scratch_limit=3)
    assert stats_of(stats_record(figures)) == figures
    assert stats_of({"cpu_used": {"current": "1"}, "mem_cur_bytes": 7}) == ContainerStats(
        mem_cur_bytes=7
    )
