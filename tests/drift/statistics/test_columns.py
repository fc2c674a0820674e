"""Sorted column blocks: the copy-and-sort step of the drift engine, with and without worker threads."""

from __future__ import annotations

import numpy as np
import pytest

from drift.statistics import columns


@pytest.mark.parametrize("workers", [0, 1, 2, 3])
@pytest.mark.parametrize("column_count", [1, 7, 8, 9, 25, 40])
def test_sorted_column_blocks_yield_every_column_sorted_in_order(
    workers: int, column_count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the worker count, the blocks start at every 8th column and hold the columns sorted (NaN last), also
    when a later block reuses an earlier block's memory and when the matrix is Fortran-ordered."""
    rng = np.random.default_rng(column_count * 10 + workers)
    monkeypatch.setattr(columns, "_sort_worker_count", lambda: workers)
    for order in ("C", "F"):
        # given: enough cells for the threaded path, with ties, NaN and infinities
        matrix = np.asarray(np.round(rng.normal(size=(30_000, column_count)), 2), order=order)
        matrix[rng.random(matrix.shape) < 0.01] = np.nan
        matrix[0, 0], matrix[1, -1] = np.inf, -np.inf
        # when: each block is copied before the next one is requested (its memory may be reused after that)
        blocks = [
            (start, block.flags.f_contiguous, block.copy()) for start, block in columns.sorted_column_blocks(matrix)
        ]
        # then
        assert [start for start, _, _ in blocks] == list(range(0, column_count, 8))
        assert all(fortran for _, fortran, _ in blocks)
        np.testing.assert_array_equal(
            np.concatenate([block for _, _, block in blocks], axis=1), np.sort(matrix, axis=0)
        )
