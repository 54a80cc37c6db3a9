"""A configured fake accelerator inventory, for exercising GPU scheduling without GPUs.

Configuration is a list of entries (JSON text or already-parsed TOML/JSON)::

    [{"model": "FakeGPU-80G", "memory": "80g", "shares": 1.0, "count": 4}]

``model`` is required; ``memory`` is a size (default 0), ``shares`` the capacity of one device
in ``cuda.shares`` (default 1.0, must be positive), ``count`` how many such devices (default 1).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from hangar.agent.resources.devices import AcceleratorDevice, AcceleratorStats
from hangar.util.sizes import parse_size

_KEYS = frozenset({"model", "memory", "shares", "count"})
_NAMESPACE = uuid.UUID("5f1b3c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b")


def _entry(raw: Any, position: int) -> tuple[str, int, float, int]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"fake accelerator #{position}: expected an object, got {raw!r}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ValueError(f"fake accelerator #{position}: unknown keys {sorted(unknown)}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError(f"fake accelerator #{position}: 'model' must be a non-empty string")
    memory = parse_size(raw.get("memory", 0))
    shares = raw.get("shares", 1.0)
    count = raw.get("count", 1)
    if isinstance(shares, bool) or not isinstance(shares, int | float) or shares <= 0:
        raise ValueError(f"fake accelerator #{position}: 'shares' must be a positive number")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"fake accelerator #{position}: 'count' must be a positive integer")
    return model, memory, float(shares), count


def parse_fake_accelerators(
    config: str | Sequence[Mapping[str, Any]],
) -> tuple[AcceleratorDevice, ...]:
    """Expand a fake inventory into devices with indices 0..N-1 and stable fake uuids.

    Raises ValueError naming the offending entry for malformed input.
    """
    entries = json.loads(config) if isinstance(config, str) else config
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes):
        raise ValueError("fake accelerators: expected a list of objects")
    devices: list[AcceleratorDevice] = []
    for position, raw in enumerate(entries):
        model, memory, shares, count = _entry(raw, position)
        for _ in range(count):
            index = len(devices)
            fake_uuid = f"FAKE-GPU-{uuid.uuid5(_NAMESPACE, f'{index}/{model}')}"
            devices.append(
                AcceleratorDevice("cuda", index, fake_uuid, model, memory, shares, None, True)
            )
    return tuple(devices)


def read_fake_stats(devices: Sequence[AcceleratorDevice]) -> tuple[AcceleratorStats, ...]:
    """Return idle readings (0 % busy, 0 bytes used) for fake devices."""
    return tuple(
        AcceleratorStats(device.index, device.uuid, 0.0, 0, device.memory_bytes)
        for device in devices
    )
