"""Time-ordered UUIDs (version 7, RFC 9562): the primary key of a prediction sorts by creation time.

One index on (model_version, id) then serves both "the last N predictions" and "predictions since T".
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

import numpy as np


def uuid7() -> uuid.UUID:
    """A new version-7 UUID: 48 bits of Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_batch(count: int) -> list[uuid.UUID]:
    """`count` version-7 UUIDs sharing one timestamp, in increasing order: 12 + 62 random bits each (RFC 9562,
    `rand_a` and `rand_b`), drawn with one os.urandom call and put in order with numpy (one random draw and one
    integer per id cost ~7 us per id on a 1,000-row batch; this ~1.5 us)."""
    millis = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    if count < 64:  # numpy's fixed cost is more than the loop's for a few ids (the dynamic batches of single rows)
        head = (millis << 80) | (0x7 << 76) | (0b10 << 62)
        pool = os.urandom(10 * count)
        draws = sorted(int.from_bytes(pool[i : i + 10], "big") >> 6 for i in range(0, 10 * count, 10))  # 74 bits
        return [uuid.UUID(int=head | (((r >> 62) & 0xFFF) << 64) | (r & ((1 << 62) - 1))) for r in draws]
    randoms = np.frombuffer(os.urandom(16 * count), dtype=np.uint64).reshape(count, 2)
    high = np.uint64((millis << 16) | (0x7 << 12)) | (randoms[:, 0] & np.uint64(0xFFF))  # unix_ts_ms, ver, rand_a
    low = np.uint64(0b10 << 62) | (randoms[:, 1] & np.uint64((1 << 62) - 1))  # var, rand_b
    order = np.lexsort((low, high))
    packed = np.empty((count, 2), dtype=">u8")
    packed[:, 0], packed[:, 1] = high[order], low[order]
    # uuid.UUID(int=...) checks its argument and the version again per id (~2.6 us); the values are already valid
    # version-7 UUIDs, so each is set the way UUID.__init__ sets it, without the checks (~0.9 us)
    make, assign, unknown = object.__new__, object.__setattr__, uuid.SafeUUID.unknown
    ids: list[uuid.UUID] = []
    for high_bits, low_bits in zip(packed[:, 0].tolist(), packed[:, 1].tolist(), strict=True):
        value = make(uuid.UUID)
        assign(value, "int", (high_bits << 64) | low_bits)
        assign(value, "is_safe", unknown)
        ids.append(value)
    return ids


def uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest version-7 UUID at or after `moment` (for "since T" queries on the primary key)."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62))


def uuid7_time(value: uuid.UUID) -> float:
    """The Unix time (seconds) encoded in a version-7 UUID."""
    return (value.int >> 80) / 1000.0
