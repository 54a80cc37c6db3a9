"""Small shared pieces of the SDK."""

from __future__ import annotations

import enum
from typing import Final


class Undefined(enum.Enum):
    """The type of :data:`undefined`: a value that was not given at all (unlike ``None``)."""

    token = object()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


undefined: Final = Undefined.token
"""A placeholder to signify an undefined value, distinct from a null (``None``) value."""
