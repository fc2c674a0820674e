"""Reference data prepared once (at upload) for repeated drift runs, and its compact serialization.

Numeric: per feature the distinct finite values ascending with cumulative counts (exact KS and Wasserstein need every
one), the bins of the binned scores (drift.statistics.binning) with the reference's counts in them, and a summary.
Categorical: per feature the count of each category code and of codes outside the category list.

Blobs are npz archives (no pickle) with a kind and a format version. Numeric format 2 replaced format 1's decile
bins (which merged tied values); a format-1 blob is refused by from_bytes and re-prepared, losslessly, from the
distinct values and counts it stores by numeric_reference_upgrade (data migration drift 0004 does that for every
stored reference).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .binning import MAX_BIN_EDGES, bin_counts_cumulative, padded_edges, reference_bin_edges
from .columns import as_matrix, finite_slice, segment_cumsum, segment_diff, sorted_column_blocks, unique_cumulative
from .contingency import category_counts
from .summaries import NUMERIC_SUMMARY_KEYS, categorical_summary_dict, numeric_summary_dict, numeric_summary_row

NUMERIC_FORMAT_VERSION = 2
CATEGORICAL_FORMAT_VERSION = 1
_LEGACY_NUMERIC_FORMAT_VERSION = 1


class ReferenceFormatError(ValueError):
    """A prepared reference blob of another kind or of a format version this code does not read."""


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Numeric reference prepared once: per feature, its distinct finite values ascending with cumulative counts,
    its binned-score bins with the reference's counts, and its summary."""

    names: tuple[str, ...]
    # Concatenated per feature; feature f owns values[offsets[f]:offsets[f + 1]].
    values: np.ndarray
    # Cumulative count of finite reference values <= values[i], restarting at each feature.
    cumulative_counts: np.ndarray
    offsets: np.ndarray
    row_count: int
    missing_counts: np.ndarray
    # [features, MAX_BIN_EDGES] edges padded with +inf, and [features, MAX_BIN_EDGES + 1] reference counts per bin.
    bin_edges: np.ndarray
    bin_counts: np.ndarray
    # One row of NUMERIC_SUMMARY_KEYS per feature; NaN where undefined.
    summaries: np.ndarray = field(repr=False)
    # Per feature, what each drift run would otherwise recompute from the reference alone (the KS grid, the chart's
    # reference quantiles): filled on first use by drift.statistics.numeric, kept as long as the object.
    derived: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def feature_values(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (distinct finite values ascending, cumulative counts) of one feature."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.values[start:stop], self.cumulative_counts[start:stop]

    def finite_count(self, index: int) -> int:
        """Return the number of finite reference values of one feature."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        return int(self.cumulative_counts[stop - 1]) if stop > start else 0

    def summary(self, index: int) -> dict[str, float | int | None]:
        """Return the JSON-safe summary of one feature (count = non-missing values; None where undefined)."""
        return numeric_summary_dict(self.summaries[index])

    def subset(self, indices: Sequence[int]) -> NumericReference:
        """Return the reference of the given features only, in the given order."""
        chosen = [int(i) for i in indices]
        parts = [self.feature_values(i) for i in chosen]
        sizes = [values.size for values, _ in parts]
        return NumericReference(
            names=tuple(self.names[i] for i in chosen),
            values=np.concatenate([values for values, _ in parts]) if parts else np.empty(0),
            cumulative_counts=(
                np.concatenate([cumulative for _, cumulative in parts]) if parts else np.empty(0, dtype=np.int64)
            ),
            offsets=np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).astype(np.int64),
            row_count=self.row_count,
            missing_counts=self.missing_counts[chosen],
            bin_edges=self.bin_edges[chosen],
            bin_counts=self.bin_counts[chosen],
            summaries=self.summaries[chosen],
        )

    def to_bytes(self) -> bytes:
        """Serialize to a compact npz blob (no pickle, format NUMERIC_FORMAT_VERSION) for a database BinaryField."""
        counts = segment_diff(self.cumulative_counts, self.offsets)
        # Continuous features have all counts 1: the smallest dtype makes the counts nearly free to store.
        counts = counts.astype(np.min_scalar_type(int(counts.max()) if counts.size else 0))
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array("numeric"),
            format_version=np.array(NUMERIC_FORMAT_VERSION),
            names=np.array(self.names, dtype=str),
            values=self.values,
            counts=counts,
            offsets=self.offsets,
            row_count=np.array(self.row_count),
            missing_counts=self.missing_counts,
            bin_edges=self.bin_edges,
            bin_counts=self.bin_counts,
            summaries=self.summaries,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericReference:
        """Load a reference written by to_bytes (ReferenceFormatError for another kind or format version)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            version = _check_blob(blob, "numeric")
            if version == _LEGACY_NUMERIC_FORMAT_VERSION:
                raise ReferenceFormatError(
                    "numeric reference format version 1 (decile bins that merge tied values) is no longer read: "
                    "re-prepare it with numeric_reference_upgrade (`manage.py migrate drift` does so for stored "
                    "references)"
                )
            if version != NUMERIC_FORMAT_VERSION:
                raise ReferenceFormatError(f"unsupported numeric reference format version {version}")
            offsets = blob["offsets"].astype(np.int64, copy=False)
            return cls(
                names=tuple(str(name) for name in blob["names"]),
                values=blob["values"].astype(np.float64, copy=False),
                cumulative_counts=segment_cumsum(blob["counts"], offsets),
                offsets=offsets,
                row_count=int(blob["row_count"]),
                missing_counts=blob["missing_counts"].astype(np.int64, copy=False),
                bin_edges=blob["bin_edges"].astype(np.float64, copy=False),
                bin_counts=blob["bin_counts"].astype(np.int64, copy=False),
                summaries=blob["summaries"].astype(np.float64, copy=False),
            )


def numeric_reference_prepare(*, names: Sequence[str], values: np.ndarray) -> NumericReference:
    """Prepare numeric reference data (float64 [rows, features]; NaN/inf = missing) for repeated drift runs."""
    matrix = as_matrix(values, len(names), "values")
    row_count = matrix.shape[0]
    columns = (
        finite_slice(block[:, offset]) for _, block in sorted_column_blocks(matrix) for offset in range(block.shape[1])
    )
    return _numeric_reference_build(names, columns, row_count)


def numeric_reference_upgrade(data: bytes) -> NumericReference:
    """Re-prepare a numeric reference blob of any readable format version in the current format.

    Every format stores each feature's distinct finite values with their counts, the row count and the missing
    counts, which is all preparation reads of the data: the result equals preparing the original file again.
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as blob:
        version = _check_blob(blob, "numeric")
        if version not in (_LEGACY_NUMERIC_FORMAT_VERSION, NUMERIC_FORMAT_VERSION):
            raise ReferenceFormatError(f"unsupported numeric reference format version {version}")
        names = [str(name) for name in blob["names"]]
        values = blob["values"].astype(np.float64, copy=False)
        counts = blob["counts"].astype(np.int64)
        offsets = blob["offsets"].astype(np.int64)
        row_count = int(blob["row_count"])
    columns = (np.repeat(values[start:stop], counts[start:stop]) for start, stop in itertools.pairwise(offsets))
    return _numeric_reference_build(names, columns, row_count)


def _numeric_reference_build(names: Sequence[str], columns: Iterable[np.ndarray], row_count: int) -> NumericReference:
    """Build a NumericReference from each feature's sorted finite values (an iterable in feature order)."""
    feature_count = len(names)
    unique_parts: list[np.ndarray] = []
    cumulative_parts: list[np.ndarray] = []
    missing_counts = np.zeros(feature_count, dtype=np.int64)
    bin_edges = np.full((feature_count, MAX_BIN_EDGES), np.inf)
    bin_counts = np.zeros((feature_count, MAX_BIN_EDGES + 1), dtype=np.int64)
    summaries = np.full((feature_count, len(NUMERIC_SUMMARY_KEYS)), np.nan)
    for index, finite in enumerate(columns):
        summaries[index] = numeric_summary_row(finite, row_count)
        missing_counts[index] = row_count - finite.size
        unique, cumulative = unique_cumulative(finite)
        unique_parts.append(unique)
        cumulative_parts.append(cumulative)
        bin_edges[index] = padded_edges(reference_bin_edges(unique, cumulative))
        bin_counts[index] = bin_counts_cumulative(unique, cumulative, bin_edges[index])
    offsets = np.concatenate(([0], np.cumsum([part.size for part in unique_parts], dtype=np.int64)))
    return NumericReference(
        names=tuple(str(name) for name in names),
        values=np.concatenate(unique_parts) if unique_parts else np.empty(0),
        cumulative_counts=np.concatenate(cumulative_parts) if cumulative_parts else np.empty(0, dtype=np.int64),
        offsets=offsets.astype(np.int64),
        row_count=row_count,
        missing_counts=missing_counts,
        bin_edges=bin_edges,
        bin_counts=bin_counts,
        summaries=summaries,
    )


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Categorical reference prepared once: per feature, the count of each category code and of unseen codes."""

    names: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    # [features, max categories + 1]; column c < len(categories[f]) counts code c, the last column unseen codes.
    counts: np.ndarray
    row_count: int
    missing_counts: np.ndarray

    def summary(self, index: int) -> dict[str, Any]:
        """Return the JSON-safe summary of one feature: count, missing_share and the share of each category."""
        return categorical_summary_dict(self.counts[index], self.categories[index], self.row_count)

    def subset(self, indices: Sequence[int]) -> CategoricalReference:
        """Return the reference of the given features only, in the given order."""
        chosen = [int(i) for i in indices]
        return CategoricalReference(
            names=tuple(self.names[i] for i in chosen),
            categories=tuple(self.categories[i] for i in chosen),
            counts=self.counts[chosen],
            row_count=self.row_count,
            missing_counts=self.missing_counts[chosen],
        )

    def to_bytes(self) -> bytes:
        """Serialize to a compact npz blob (no pickle) for a database BinaryField."""
        flat = [name for feature in self.categories for name in feature]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array("categorical"),
            format_version=np.array(CATEGORICAL_FORMAT_VERSION),
            names=np.array(self.names, dtype=str),
            category_names=np.array(flat, dtype=str),
            category_sizes=np.array([len(feature) for feature in self.categories], dtype=np.int64),
            counts=self.counts,
            row_count=np.array(self.row_count),
            missing_counts=self.missing_counts,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CategoricalReference:
        """Load a reference written by to_bytes (ReferenceFormatError for another kind or format version)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            version = _check_blob(blob, "categorical")
            if version != CATEGORICAL_FORMAT_VERSION:
                raise ReferenceFormatError(f"unsupported categorical reference format version {version}")
            flat = [str(name) for name in blob["category_names"]]
            bounds = np.concatenate(([0], np.cumsum(blob["category_sizes"]))).astype(int)
            return cls(
                names=tuple(str(name) for name in blob["names"]),
                categories=tuple(tuple(flat[bounds[i] : bounds[i + 1]]) for i in range(bounds.size - 1)),
                counts=blob["counts"].astype(np.int64, copy=False),
                row_count=int(blob["row_count"]),
                missing_counts=blob["missing_counts"].astype(np.int64, copy=False),
            )


def categorical_reference_prepare(
    *, names: Sequence[str], categories: Sequence[Sequence[str]], codes: np.ndarray
) -> CategoricalReference:
    """Prepare categorical reference codes (float64 [rows, features]; NaN = missing) for repeated drift runs."""
    if len(categories) != len(names):
        raise ValueError(f"categories has {len(categories)} entries for {len(names)} features")
    matrix = as_matrix(codes, len(names), "codes")
    category_tuple = tuple(tuple(str(name) for name in feature) for feature in categories)
    counts, missing = category_counts(matrix, np.array([len(c) for c in category_tuple], dtype=np.int64))
    return CategoricalReference(
        names=tuple(str(name) for name in names),
        categories=category_tuple,
        counts=counts,
        row_count=matrix.shape[0],
        missing_counts=missing,
    )


def reference_format_version(data: bytes) -> tuple[str, int]:
    """Return (kind, format version) of a prepared reference blob without loading its arrays."""
    with np.load(io.BytesIO(data), allow_pickle=False) as blob:
        return str(blob["kind"]), int(blob["format_version"])


def _check_blob(blob: Any, kind: str) -> int:
    """Return the blob's format version, refusing blobs of another reference kind."""
    if str(blob["kind"]) != kind:
        raise ReferenceFormatError(f"expected a {kind} reference, got {blob['kind']}")
    return int(blob["format_version"])
