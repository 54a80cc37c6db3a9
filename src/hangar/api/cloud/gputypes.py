"""Device models as the seed's GPU type codes: the shared table in :mod:`hangar.util.gputypes`
(the core's prices key GPUs by the same codes)."""

from hangar.util.gputypes import GIB, GpuType, gpu_type, vm_type_id

__all__ = ["GIB", "GpuType", "gpu_type", "vm_type_id"]
