"""CPU of waking a waiting request: an Event per job against a lock held from creation (predictions/coalescing.py).

A follower thread makes a job's wake-up object, hands it over through a queue and waits on it; the main thread takes
it and wakes the follower, `--handoffs` times, as a batch's leader wakes the requests it answered. Prints the process
CPU and wall microseconds per handoff for each kind, in interleaved runs, and their medians (the queue's own wake-up
is in both).

Run: `.venv/bin/python bench/coalescing_handoff.py [--handoffs 30000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from typing import Any


def handoffs(kind: str, count: int) -> tuple[float, float]:
    """(CPU us, wall us) per handoff of `kind` ("event" or "lock")."""
    handed: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def follower() -> None:
        for _ in range(count):
            if kind == "event":
                event = threading.Event()
                handed.put(event)
                event.wait()
            else:
                lock = threading.Lock()
                lock.acquire()
                handed.put(lock)
                lock.acquire()

    thread = threading.Thread(target=follower)
    cpu, wall = time.process_time(), time.perf_counter()
    thread.start()
    for _ in range(count):
        woken = handed.get()
        if kind == "event":
            woken.set()
        else:
            woken.release()
    thread.join()
    return 1e6 * (time.process_time() - cpu) / count, 1e6 * (time.perf_counter() - wall) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handoffs", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {"event": [], "lock": []}
    for round_ in range(args.rounds):
        for kind in ("event", "lock") if round_ % 2 == 0 else ("lock", "event"):
            cpu_us, wall_us = handoffs(kind, args.handoffs)
            cpu[kind].append(cpu_us)
            print(f"round {round_ + 1} {kind:<5} CPU {cpu_us:6.2f} us  wall {wall_us:6.2f} us per handoff", flush=True)
    event, lock = statistics.median(cpu["event"]), statistics.median(cpu["lock"])
    print(f"medians: event {event:.2f} us, lock {lock:.2f} us of CPU per handoff ({event - lock:.2f} us less)")


if __name__ == "__main__":
    main()
