"""What a session gets for the slots its request names none of."""

from __future__ import annotations

from hangar.core.compute.creation import default_slots

GIB = 1 << 30
IMAGE_MIN = {"cpu": "1", "mem": str(128 << 20)}


def test_sessions_get_the_default_memory_above_the_image_minimum() -> None:
    assert default_slots(IMAGE_MIN, {}, GIB) == {"cpu": "1", "mem": str(GIB)}


def test_the_image_minimum_wins_when_larger_and_zero_means_the_minimum() -> None:
    big = {"cpu": "2", "mem": str(4 * GIB)}
    assert default_slots(big, {}, GIB) == big
    assert default_slots(IMAGE_MIN, {}, 0) == IMAGE_MIN


def test_the_default_never_exceeds_the_image_maximum() -> None:
    assert default_slots(IMAGE_MIN, {"mem": "512m"}, GIB) == {"cpu": "1", "mem": str(512 << 20)}
