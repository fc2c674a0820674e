"""Remembering checks that passed, so that one save validates once.

An admin save runs the same validation up to three times: the form checks the change (to show its error on the
form), the service checks it again (every caller goes through the service), and the publish after commit checks the
file it renders from the database, which is the same text. Each of those checks is deterministic in its inputs (a
promtool run on a file's content, a skops load of an artifact against a schema), so a process keeps the outcomes that
passed, keyed by everything they depend on, and the second and third check of the same content cost nothing.
Failures are never kept: a refused input is checked again, and says why again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def content_digest(data: bytes | str) -> str:
    """The SHA-256 of checked content (text as UTF-8), for a key."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


class PassedChecks(Generic[V]):
    """The outcomes of checks that passed, by key; at most `size` kept, least recently used dropped first."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._outcomes: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        """The outcome of a check that passed with this key, or None when it has not (or was forgotten)."""
        with self._lock:
            outcome = self._outcomes.get(key)
            if outcome is not None:
                self._outcomes.move_to_end(key)
            return outcome

    def add(self, key: Hashable, outcome: V) -> None:
        """Remember a check that passed."""
        with self._lock:
            self._outcomes[key] = outcome
            self._outcomes.move_to_end(key)
            while len(self._outcomes) > self._size:
                self._outcomes.popitem(last=False)

    def clear(self) -> None:
        """Forget every outcome."""
        with self._lock:
            self._outcomes.clear()
