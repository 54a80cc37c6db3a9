"""Typed events that belong to no domain: an envelope, a bus, matchers.

Domains publish :class:`Event` envelopes; faces and loops subscribe by :class:`Matcher` and
translate kinds to their own wire names. This package imports no other core domain.
"""

from hangar.core.events.bus import (
    DEFAULT_QUEUE_SIZE,
    EventBus,
    InProcessBus,
    Matcher,
    Overflow,
    Overflowed,
    Subscription,
)
from hangar.core.events.envelope import (
    PAYLOAD_TYPES,
    EndpointHint,
    Event,
    EventKind,
    QueueChange,
    SessionChange,
    TaskChange,
    Tenant,
)

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "PAYLOAD_TYPES",
    "EndpointHint",
    "Event",
    "EventBus",
    "EventKind",
    "InProcessBus",
    "Matcher",
    "Overflow",
    "Overflowed",
    "QueueChange",
    "SessionChange",
    "Subscription",
    "TaskChange",
    "Tenant",
]
