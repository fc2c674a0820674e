"""Time-ordered UUIDs (version 7, RFC 9562): the primary key of a prediction sorts by creation time.

One index on (model_version, id) then serves both "the last N predictions" and "predictions since T".
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime


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
    """`count` version-7 UUIDs sharing one timestamp, in increasing order."""
    millis = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    head = (millis << 80) | (0x7 << 76) | (0b10 << 62)
    randoms = sorted(int.from_bytes(os.urandom(9), "big") for _ in range(count))
    return [uuid.UUID(int=head | (((r >> 62) & 0xFFF) << 64) | (r & ((1 << 62) - 1))) for r in randoms]


def uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest version-7 UUID at or after `moment` (for "since T" queries on the primary key)."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62))


def uuid7_time(value: uuid.UUID) -> float:
    """The Unix time (seconds) encoded in a version-7 UUID."""
    return (value.int >> 80) / 1000.0
