"""Resource slots: an immutable mapping from slot name to an exact ``Decimal`` amount.

Slot names follow the Backend.AI convention: ``cpu`` (count, may be fractional), ``mem``
(bytes), ``cuda.device`` (whole GPUs), ``cuda.shares`` (fractional GPU), others per plugin.
A slot that is absent counts as zero everywhere (arithmetic, comparison, equality).

User input goes through :meth:`ResourceSlots.parse` (numbers or numeric strings; byte slots
accept binary suffixes ``k m g t p e`` with an optional ``b``/``ib``, case-insensitive).
Output goes through :meth:`ResourceSlots.to_wire`: strings of plain numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from hangar.core.errors import InvalidRequest
from hangar.util.sizes import size_amount

CPU = "cpu"
MEM = "mem"
CUDA_DEVICE = "cuda.device"
CUDA_SHARES = "cuda.shares"
GPU_SLOTS = frozenset({CUDA_DEVICE, CUDA_SHARES})
BYTE_SLOTS = frozenset({MEM})

ZERO = Decimal(0)
INFINITY = Decimal("Infinity")

_UNLIMITED_WORDS = frozenset({"infinity", "inf"})

SlotInput = Mapping[str, Decimal | int] | Iterable[tuple[str, Decimal | int]]


class ResourceSlots(Mapping[str, Decimal]):
    """An immutable, hashable amount of resources per slot name.

    ``a <= b`` holds when every slot of ``a`` is at most the same slot of ``b`` (a partial
    order); ``a + b`` and ``a - b`` work slot by slot. Equality and hashing ignore zero slots.
    """

    __slots__ = ("_data", "_hash")

    _data: dict[str, Decimal]
    _hash: int | None

    def __init__(self, values: SlotInput = ()) -> None:
        """Build from trusted amounts (``Decimal`` or ``int``); use :meth:`parse` for user input.

        Raises ValueError for an amount that is negative or not a number.
        """
        items = values.items() if isinstance(values, Mapping) else values
        data: dict[str, Decimal] = {}
        for name, amount in items:
            value = amount if type(amount) is Decimal else Decimal(amount)
            if value.is_nan() or value < 0:
                raise ValueError(f"resource slot {name!r} must be a non-negative number")
            data[name] = value
        self._data = data
        self._hash = None

    @classmethod
    def parse(
        cls,
        raw: Mapping[str, object],
        *,
        byte_slots: frozenset[str] = BYTE_SLOTS,
        allow_unlimited: bool = False,
    ) -> ResourceSlots:
        """Parse user input: ``{"cpu": "1.5", "mem": "1g", "cuda.device": 1}``.

        Byte slots are rounded down to whole bytes; ``cuda.device`` must be a whole number.
        ``allow_unlimited`` admits ``"Infinity"`` (resource-policy totals).
        Raises InvalidRequest for a name or value that cannot be read.
        """
        data: dict[str, Decimal] = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"Invalid resource slot name: {name!r}")
            amount = parse_amount(name, value, name in byte_slots, allow_unlimited)
            if name == CUDA_DEVICE and amount.is_finite() and amount != amount.to_integral_value():
                raise InvalidRequest(f"Resource slot {name!r} must be a whole number: {value!r}")
            data[name] = amount
        return cls(data)

    # -- Mapping ---------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Decimal:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def amount(self, name: str) -> Decimal:
        """The amount of ``name``, zero when absent."""
        return self._data.get(name, ZERO)

    # -- value semantics -------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceSlots):
            return NotImplemented
        return self._nonzero_items() == other._nonzero_items()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._nonzero_items())
        return self._hash

    def __repr__(self) -> str:
        body = ", ".join(f"{k!r}: {format_amount(v)!r}" for k, v in sorted(self._data.items()))
        return f"ResourceSlots({{{body}}})"

    def _nonzero_items(self) -> frozenset[tuple[str, Decimal]]:
        return frozenset((k, v) for k, v in self._data.items() if v)

    # -- arithmetic ------------------------------------------------------------------------

    def __add__(self, other: ResourceSlots) -> ResourceSlots:
        data = dict(self._data)
        for name, amount in other._data.items():
            data[name] = data.get(name, ZERO) + amount
        return ResourceSlots(data)

    def __sub__(self, other: ResourceSlots) -> ResourceSlots:
        """Slot-wise difference. Raises ValueError if any slot would go negative."""
        data = dict(self._data)
        for name, amount in other._data.items():
            data[name] = data.get(name, ZERO) - amount
        return ResourceSlots(data)

    def __mul__(self, factor: int | Decimal) -> ResourceSlots:
        return ResourceSlots({k: v * factor for k, v in self._data.items()})

    def __le__(self, other: ResourceSlots) -> bool:
        return all(amount <= other.amount(name) for name, amount in self._data.items())

    def __ge__(self, other: ResourceSlots) -> bool:
        return other <= self

    def fits(self, capacity: ResourceSlots) -> bool:
        """True when this request fits in ``capacity`` on every slot (same as ``<=``)."""
        return self <= capacity

    def nonzero(self) -> ResourceSlots:
        """The same amounts without the zero slots."""
        return ResourceSlots({k: v for k, v in self._data.items() if v})

    def to_wire(self) -> dict[str, str]:
        """Strings of plain numbers, as the API faces send them: ``{"cpu": "1.5"}``."""
        return {name: format_amount(amount) for name, amount in self._data.items()}


EMPTY_SLOTS = ResourceSlots()


def parse_amount(name: str, value: object, is_bytes: bool, allow_unlimited: bool) -> Decimal:
    """One slot value from user input. Raises InvalidRequest when it cannot be read."""
    amount: Decimal | None = None
    if isinstance(value, bool):
        amount = None
    elif isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, str):
        amount = _parse_text(value.strip(), is_bytes)
    if amount is not None and amount.is_infinite() and amount > 0 and allow_unlimited:
        return INFINITY
    if amount is None or not amount.is_finite() or amount < 0:
        raise InvalidRequest(f"Invalid value for resource slot {name!r}: {value!r}")
    return amount.to_integral_value(rounding=ROUND_FLOOR) if is_bytes else amount


def _parse_text(text: str, is_bytes: bool) -> Decimal | None:
    if text.lower() in _UNLIMITED_WORDS:
        return INFINITY
    if is_bytes:
        with contextlib.suppress(ValueError):
            return size_amount(text)
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def format_amount(amount: Decimal) -> str:
    """A plain-number string: ``"1"``, ``"0.5"``, ``"1073741824"``; ``"Infinity"`` if unlimited."""
    if amount.is_infinite():
        return "Infinity"
    if amount == amount.to_integral_value():
        return str(int(amount))
    return format(amount.normalize(), "f")
