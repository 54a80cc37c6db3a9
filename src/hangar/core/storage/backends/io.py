"""Helpers the storage backends share: reused read buffers and I/O counters."""

from __future__ import annotations

import time

from hangar.core.storage.models import PerfMetric


class Buffers:
    """Read buffers of one stream, each reused once no view of it is left.

    A fresh buffer per read costs page faults in the kernel's copy (the allocator hands
    memory back and forth), which took a tenth of a download's time. A chunk sent down a
    socket stays referenced by the server until the socket has taken it, and a bytearray
    refuses to resize while any memoryview of it is alive: that refusal says which
    buffers are free. Only views of free buffers are handed out, so data that is still
    on its way is never overwritten.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._all: list[bytearray] = []

    def take(self) -> memoryview:
        for buffer in self._all:
            if _unviewed(buffer):
                return memoryview(buffer)
        buffer = bytearray(self.size)
        self._all.append(buffer)
        return memoryview(buffer)


def _unviewed(buffer: bytearray) -> bool:
    try:
        buffer.append(0)  # raises BufferError while a view exists
    except BufferError:
        return False
    del buffer[-1]
    return True


class PerfCounters:
    """Operation and byte counts of this process's reads and writes on a host."""

    def __init__(self) -> None:
        self.reads = self.writes = self.read_bytes = self.write_bytes = 0
        self.read_seconds = self.write_seconds = 0.0
        self.started = time.monotonic()

    def read(self, nbytes: int, seconds: float) -> None:
        self.reads += 1
        self.read_bytes += nbytes
        self.read_seconds += seconds

    def write(self, nbytes: int, seconds: float) -> None:
        self.writes += 1
        self.write_bytes += nbytes
        self.write_seconds += seconds

    def snapshot(self) -> PerfMetric:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return PerfMetric(
            iops_read=int(self.reads / elapsed),
            iops_write=int(self.writes / elapsed),
            io_bytes_read=self.read_bytes,
            io_bytes_write=self.write_bytes,
            io_usec_read=self.read_seconds * 1e6 / max(self.reads, 1),
            io_usec_write=self.write_seconds * 1e6 / max(self.writes, 1),
        )
