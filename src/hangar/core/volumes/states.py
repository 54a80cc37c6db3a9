"""The volume status machine: creating -> active; active -> resizing -> active;
active|error -> deleting -> (gone), or back when refused; a failure -> error."""

from __future__ import annotations

from hangar.core.volumes.models import VolumeStatus as S

MOVES: dict[S, frozenset[S]] = {
    S.CREATING: frozenset({S.ACTIVE, S.ERROR}),
    S.ACTIVE: frozenset({S.RESIZING, S.DELETING}),
    S.RESIZING: frozenset({S.ACTIVE, S.ERROR}),
    S.DELETING: frozenset({S.ACTIVE, S.ERROR}),  # back when the folder cannot go
    S.ERROR: frozenset({S.DELETING}),
}


def can_move(old: S, new: S) -> bool:
    return new in MOVES.get(old, frozenset())
