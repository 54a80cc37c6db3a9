"""Interrupting a batch step: SIGINT to the sandboxed processes, not to their launcher.

A step's process group holds the launcher (bwrap, in the node's PID namespace) and the
sandboxed processes (in the kernel's own namespace). SIGINT would kill bwrap, which then
SIGKILLs the sandbox before the program can report the interrupt (a ``KeyboardInterrupt``
traceback). So the signal goes only to group members in another PID namespace; where there
are none (the fake runtime runs without namespaces), to the whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def _group_of(stat_text: str) -> int:
    """The process group id from a ``/proc/<pid>/stat`` line (fields after the comm)."""
    return int(stat_text.rsplit(")", 1)[1].split()[2])


def sandboxed_members(pgid: int, proc_root: Path = Path("/proc")) -> list[int]:
    """Pids in process group ``pgid`` whose PID namespace differs from this process's."""
    try:
        own = os.readlink(proc_root / "self" / "ns" / "pid")
    except OSError:
        return []
    members: list[int] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _group_of((entry / "stat").read_text()) != pgid:
                continue
            if os.readlink(entry / "ns" / "pid") != own:
                members.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to inspect
    return sorted(members)


def interrupt_group(pgid: int, proc_root: Path = Path("/proc")) -> None:
    """SIGINT the sandboxed members of ``pgid`` (or the whole group where none are).

    Never raises for processes that are gone or not ours to signal.
    """
    targets = sandboxed_members(pgid, proc_root)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if not targets:
            os.killpg(pgid, signal.SIGINT)
            return
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
