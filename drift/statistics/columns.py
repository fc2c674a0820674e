"""Array plumbing shared by the drift statistics: input checks, sorted column blocks, finite slices, unique runs."""

from __future__ import annotations

import collections
import itertools
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# The largest finite float64: where a score's true value lies beyond it, the score is reported as this value.
FLOAT_MAX = float(np.finfo(np.float64).max)
_HALF_FLOAT_MAX = FLOAT_MAX / 2

# Below this many window cells a thread pool costs more than it saves.
_THREADED_MIN_CELLS = 200_000
_MAX_WORKERS = 8
# Columns per sort task: small enough that statistics start on the first block early.
_SORT_BLOCK_COLUMNS = 8
# Blocks sorted ahead of the calling thread besides one per worker (each block's memory is then reused).
_SORT_BLOCKS_AHEAD = 2
_COPY_CHUNK_ROWS = 8192


def as_matrix(data: np.ndarray, feature_count: int, label: str) -> np.ndarray:
    """Return data as float64 [rows, features]; an empty 1-D array counts as zero rows (ValueError on any other
    shape)."""
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.ndim == 1 and matrix.size == 0:
        matrix = matrix.reshape(0, feature_count)
    if matrix.ndim != 2 or matrix.shape[1] != feature_count:
        raise ValueError(f"{label} must have shape [rows, {feature_count}], got {matrix.shape}")
    return matrix


def insufficient_message(reference_size: int, window_size: int, minimum: int) -> str:
    """Explain why a feature cannot be tested, or return "" when it can."""
    if window_size < minimum:
        return f"window has {window_size} non-missing values, minimum is {minimum}"
    if reference_size < minimum:
        return f"reference has {reference_size} non-missing values, minimum is {minimum}"
    return ""


def finite_or_none(value: float) -> float | None:
    """Return a finite value as float, anything else (NaN, +-inf) as None."""
    value = float(value)
    return value if math.isfinite(value) else None


def finite_slice(ordered: np.ndarray) -> np.ndarray:
    """Return the finite middle of a sorted array (sorting puts -inf first and +inf, then NaN, last)."""
    start = int(ordered.searchsorted(-np.inf, side="right"))
    stop = int(ordered.searchsorted(np.inf, side="left"))
    return ordered[start:stop]


def unique_cumulative(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the unique values of a sorted array and the cumulative count up to each of them (int64)."""
    if sorted_values.size == 0:
        return sorted_values.copy(), np.empty(0, dtype=np.int64)
    last = np.empty(sorted_values.size, dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=last[:-1])
    last[-1] = True
    ends = np.flatnonzero(last)
    return sorted_values[ends], ends.astype(np.int64) + 1


def segment_diff(cumulative: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Turn per-segment cumulative counts (segments cut at offsets) back into counts."""
    counts = np.diff(cumulative, prepend=0)
    starts = offsets[:-1][offsets[:-1] < offsets[1:]]
    counts[starts] = cumulative[starts]
    return counts


def segment_cumsum(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cumulative sum of counts (any integer dtype) restarting at each segment start, as int64."""
    cumulative = np.empty(counts.size, dtype=np.int64)
    for start, stop in itertools.pairwise(offsets.tolist()):
        segment = counts[start:stop]
        if segment.size and segment.max() == 1:
            # A feature without ties (the usual continuous one): the cumulative counts are 1..k.
            cumulative[start:stop] = np.arange(1, stop - start + 1)
        else:
            np.cumsum(segment, dtype=np.int64, out=cumulative[start:stop])
    return cumulative


def sorted_quantiles(sorted_values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """Return np.quantile (linear method) of already sorted, non-empty finite values without re-partitioning them.

    Equal to numpy's result wherever numpy's is finite; where the two neighbours are so far apart that their
    difference overflows (e.g. -1e308 and 1e308), the weighted mean a (1 - t) + b t is used, which stays finite.
    """
    positions = np.asarray(quantiles, dtype=np.float64) * (sorted_values.size - 1)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, sorted_values.size - 1)
    fraction = positions - low
    a, b = sorted_values[low], sorted_values[high]
    if max(-float(sorted_values[0]), float(sorted_values[-1])) < _HALF_FLOAT_MAX:
        # numpy's _lerp: interpolate from the nearer end, for monotone results (b - a cannot overflow here).
        interpolated: np.ndarray = np.where(fraction >= 0.5, b - (b - a) * (1 - fraction), a + (b - a) * fraction)
        return interpolated
    with np.errstate(over="ignore", invalid="ignore"):
        values: np.ndarray = np.where(fraction >= 0.5, b - (b - a) * (1 - fraction), a + (b - a) * fraction)
        overflowed = ~np.isfinite(values)
        values[overflowed] = a[overflowed] * (1 - fraction[overflowed]) + b[overflowed] * fraction[overflowed]
    return values


def sorted_column_blocks(matrix: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first column, block) in column order, each block a Fortran-ordered copy with its columns sorted.

    A block's memory is reused for a later block once the next one is requested: keep copies, not views, of it.
    """
    # Copying and sorting is half the work and numpy releases the GIL for both, so worker threads prepare blocks
    # (two numpy calls each) while the calling thread computes statistics on the blocks already sorted. Anything
    # more in the workers (summaries, the tests) was slower: many small numpy calls make the threads hand the GIL
    # back and forth. Only a few blocks are in flight and each block's memory is handed back for a later one: a
    # fresh block per column range made the kernel map (and zero) every page of a window-sized copy on each run,
    # ~10,000 page faults and ~10 ms CPU for a 50,000 x 100 window.
    column_count = matrix.shape[1]
    starts = range(0, column_count, _SORT_BLOCK_COLUMNS)
    bounds = [(start, min(start + _SORT_BLOCK_COLUMNS, column_count)) for start in starts]
    workers = _sort_worker_count()
    if workers < 1 or matrix.size < _THREADED_MIN_CELLS or len(bounds) < 2:
        block = None
        for start, stop in bounds:
            block = _columns_sorted(matrix, start, stop, block)
            yield start, block
        return
    in_flight = workers + _SORT_BLOCKS_AHEAD
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = collections.deque(
            pool.submit(_columns_sorted, matrix, start, stop) for start, stop in bounds[1 : in_flight + 1]
        )
        # The calling thread sorts the first block itself rather than wait for a worker to start and deliver it
        # (~1.5 ms less wall per run of bench/drift_bench.py, medians of 31 and 41 interleaved runs).
        block = _columns_sorted(matrix, *bounds[0])
        for index, (start, _) in enumerate(bounds):
            if index:
                block = futures.popleft().result()
            yield start, block
            following = index + in_flight + 1
            if following < len(bounds):
                futures.append(pool.submit(_columns_sorted, matrix, *bounds[following], block))


def _sort_worker_count() -> int:
    """Return how many threads sort while the calling thread computes statistics (0: sort inline)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    # The calling thread's statistics are the longer part, so it keeps a core of its own: one worker per core
    # besides it. One worker per core (3 runnable threads on 2 cores) made the calling thread wait for a core:
    # bench/drift_bench.py's engine took 38.8 ms instead of 34.8 ms (medians of 31 interleaved runs on 2 cores).
    # A single core sorts inline.
    return 0 if available < 2 else min(available - 1, _MAX_WORKERS)


def _columns_sorted(matrix: np.ndarray, start: int, stop: int, reuse: np.ndarray | None = None) -> np.ndarray:
    """Return columns start:stop of matrix as a Fortran-ordered copy with every column sorted (NaN last), written
    into `reuse` when that is a Fortran-ordered array of the right shape."""
    source = matrix[:, start:stop]
    if reuse is not None and reuse.shape == source.shape and reuse.flags.f_contiguous:
        block = reuse
    else:
        block = np.empty(source.shape, order="F")
    if matrix.flags.f_contiguous:
        block[...] = source
    else:
        # Transposing in row chunks keeps each chunk's strided reads in cache: ~1.6x faster than one big copy.
        for row in range(0, source.shape[0], _COPY_CHUNK_ROWS):
            block[row : row + _COPY_CHUNK_ROWS] = source[row : row + _COPY_CHUNK_ROWS]
    block.sort(axis=0)
    return block
