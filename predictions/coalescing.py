"""Dynamic batching of concurrent prediction requests inside one serving process.

Concurrent requests for the same model version are scored with one predict_proba call and logged with one
statement and one commit. No timer and no extra thread: the first request to arrive leads; requests that arrive
while it works wait; when the leader's batch is committed it answers everyone in it and hands the lead to the first
waiting request, which takes everything that queued up meanwhile. A lone request therefore runs exactly as it would
without batching, and under load the batch size follows the load. Every caller still gets its own rows committed
before it answers (the leader commits before it wakes anyone).
"""

from __future__ import annotations

import _thread
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .inference import LoadedModel


def _held_lock() -> _thread.LockType:
    """A new lock, already acquired."""
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class ScoringJob:
    """One request's rows, and, once done, its probabilities and ids (or the error that stopped it)."""

    model_input: np.ndarray
    log_matrix: np.ndarray
    started: float
    model: LoadedModel | None = None  # the loaded model that scores it
    version_id: int = 0
    metric_labels: tuple[str, str] = ("", "")  # model name and version, for the request metrics
    probabilities: np.ndarray | None = None
    ids: list[uuid.UUID] | None = None
    predicted: np.ndarray | None = None  # each row's class index (argmax), with its probability below
    confidences: np.ndarray | None = None
    error: BaseException | None = None
    # held from the start; released once, by the leader that answered it or passed it the lead: a waiting request
    # blocks in acquire(). A bare lock, not an Event, whose Condition makes its waits and wake-ups in Python: 18 us
    # less CPU per wake-up (bench/coalescing_handoff.py; docs/benchmarks.md, "Waking a waiting request").
    _wake: _thread.LockType = field(default_factory=_held_lock)
    _lead: bool = False


# (jobs) -> None: score and persist the jobs, setting probabilities/ids or error on each; may raise for all of them.
BatchProcessor = Callable[[list[ScoringJob]], None]


class Coalescer:
    """Leader/follower batching for one model version in one process."""

    def __init__(self, process: BatchProcessor) -> None:
        self._process = process
        self._lock = threading.Lock()
        self._pending: list[ScoringJob] = []
        self._leading = False
        self.batches = 0
        self.jobs = 0

    def run(self, job: ScoringJob) -> ScoringJob:
        """Score and persist this job, possibly together with concurrent ones; return it completed."""
        with self._lock:
            self._pending.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job._wake.acquire()
            if not job._lead:
                return job
        self._lead_batches(job)
        return job

    def _lead_batches(self, job: ScoringJob) -> None:
        """Process what is pending (this job included), then pass the lead to the next waiter if any."""
        with self._lock:
            batch, self._pending = self._pending, []
        try:
            self._process(batch)
        except BaseException as exc:  # the batch failed as a whole (e.g. the database is down): tell every job
            for member in batch:
                if member.error is None and member.probabilities is None:
                    member.error = exc
        finally:
            self.batches += 1
            self.jobs += len(batch)
            with self._lock:
                successor = self._pending[0] if self._pending else None
                if successor is None:
                    self._leading = False
                else:
                    successor._lead = True
            for member in batch:
                if member is not job:
                    member._wake.release()
            if successor is not None:
                successor._wake.release()


class CoalescerRegistry:
    """One coalescer per loaded model in this process, held weakly: when the model cache lets a model go, its
    coalescer goes with it (the coalescer must therefore not reference the model; jobs carry what they need)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: weakref.WeakKeyDictionary[object, Coalescer] = weakref.WeakKeyDictionary()

    def get(self, key: object, factory: Callable[[], Coalescer]) -> Coalescer:
        """The coalescer for a key object, created on first use."""
        coalescer = self._by_key.get(key)
        if coalescer is None:
            with self._lock:
                coalescer = self._by_key.get(key)
                if coalescer is None:
                    coalescer = self._by_key[key] = factory()
        return coalescer

    def __len__(self) -> int:
        return len(self._by_key)


coalescers = CoalescerRegistry()
