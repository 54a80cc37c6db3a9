"""Resource discovery: CPU cores, memory, NVIDIA GPUs (NVML) and a fake accelerator inventory."""

from hangar.agent.resources.devices import AcceleratorDevice, AcceleratorStats
from hangar.agent.resources.inventory import AgentInventory, detect, slots_for

__all__ = ["AcceleratorDevice", "AcceleratorStats", "AgentInventory", "detect", "slots_for"]
