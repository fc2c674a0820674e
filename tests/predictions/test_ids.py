"""Version-7 UUIDs of the prediction log (predictions/ids.py)."""

from __future__ import annotations

import time

import pytest

from predictions.ids import uuid7_batch, uuid7_time


@pytest.mark.parametrize("count", [0, 1, 8, 63, 64, 1000, 5000])
def test_a_batch_of_ids_is_unique_increasing_version_7_and_now(count: int) -> None:
    ids = uuid7_batch(count)
    assert len(ids) == len(set(ids)) == count
    assert ids == sorted(ids)
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    assert all(abs(uuid7_time(u) - time.time()) < 5 for u in ids)


@pytest.mark.parametrize("count", [40, 1000])
def test_all_74_random_bits_are_random(count: int) -> None:
    """rand_a (12 bits after the version) and rand_b (62 bits after the variant) both vary over their whole range."""
    ids = [u for _ in range(20) for u in uuid7_batch(count)]
    rand_a = [(u.int >> 64) & 0xFFF for u in ids]
    rand_b = [u.int & ((1 << 62) - 1) for u in ids]
    assert max(rand_a) >= 1 << 11  # the top bit of the 12 is used
    assert max(rand_b) >= 1 << 61
    assert len(set(rand_a)) > 20
