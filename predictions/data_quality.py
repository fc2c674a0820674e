"""Data-quality monitors on every scored row: missing values, values outside the expected range, categories the
reference never saw; counted with numpy over each committed batch (the coalesced requests of one model version),
never row by row, and exported as Prometheus counters (docs/metrics.md, "Data quality").

What counts, per feature of the model version's schema (the logged matrix, predictions/encoding.py):
- missing: NaN in the logged row (null or NaN accepted by a nullable feature);
- out of range, `side="below"|"above"`: a numeric value below the active reference's observed minimum or above its
  observed maximum. A feature without reference values (no active reference, or none finite in it) uses its
  schema bounds (`min`/`max`, predictions/schema.py) when set; values outside those never reach here (the API
  answers 422), so such a feature only counts once a reference is uploaded. Without either nothing is counted;
- unseen category: a categorical code the active reference never contains (the schema lists it, the reference has
  no row with it).

Label cardinality is bounded: the first DATA_QUALITY_MAX_FEATURES features of the schema (schema order) are counted
under their own `feature_name`, the rest summed under `feature_name="__other__"` (a rate of that series is then the
sum over those features and can exceed 1).

The expected ranges and categories are cached per model version in this process (a `DataQualityProfile`); the
active reference's id is looked up again at most every MODEL_REGISTRY_CACHE_SECONDS (one small query), and its
prepared statistics are read only when it changed (the drift app's reader, registered as a `ReferenceSource`, reads
them through `drift.selectors.reference_statistics_get`, cached per process). An upload in this process forgets at
once (`data_quality_forget`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from prometheus_client import Counter

from mlmonitor.metrics import MetricWrites, labelled

from .schema import CATEGORICAL, NUMERIC, FeatureSchema

logger = logging.getLogger(__name__)

OTHER_FEATURE = "__other__"
SIDES = ("below", "above")
ReferenceKey = tuple[int, datetime]  # (reference id, upload time): a reference's identity, never reused
# (ranges per numeric feature, whether each category occurs per categorical feature), see data_quality_profile_build
ReferenceExpectations = tuple[Mapping[str, tuple[float, float]], Mapping[str, Sequence[bool]]]

FEATURE_MISSING = Counter(
    "ml_feature_missing_total",
    "Scored rows whose feature value was missing (null/NaN accepted by a nullable feature).",
    ["model_name", "feature_name"],
)
FEATURE_OUT_OF_RANGE = Counter(
    "ml_feature_out_of_range_total",
    "Scored rows whose numeric feature value lay below/above the active reference's observed range "
    "(the schema bounds where the reference has none).",
    ["model_name", "feature_name", "side"],
)
FEATURE_UNSEEN_CATEGORY = Counter(
    "ml_feature_unseen_category_total",
    "Scored rows whose categorical feature value never occurs in the active reference.",
    ["model_name", "feature_name"],
)
DATA_QUALITY_ROWS = Counter(
    "ml_data_quality_rows_total",
    "Scored rows the data-quality counters were counted over (the denominator of their rates).",
    ["model_name"],
)

# Rows of DataQualityProfile.applies / counts, in this order.
_MISSING, _BELOW, _ABOVE, _UNSEEN = range(4)


@dataclass(frozen=True, eq=False)
class DataQualityProfile:
    """What one model version's rows are checked against (k = schema features, s = label slots).

    lower, upper [k]: the expected range (inclusive), -inf/+inf where none. categorical_columns [c] and
    seen [sum of category counts]: per categorical column, whether each code occurs in the reference, the codes of
    column j starting at category_offsets[j]. slot_names [s]: the feature_name label of each slot: the first
    `tracked` features by name, then `__other__` when there are more. applies [4, s]: which counters exist for a
    slot (missing: nullable features; below, above: a finite bound on that side; unseen: categorical features with
    a reference)."""

    reference_key: ReferenceKey | None
    lower: np.ndarray
    upper: np.ndarray
    categorical_columns: np.ndarray
    category_offsets: np.ndarray
    seen: np.ndarray
    slot_names: tuple[str, ...]
    tracked: int
    applies: np.ndarray
    # The same, as Python values for small batches (data_quality_counts_small): per column its label slot, bounds
    # and the offset of its codes in `seen` (-1: not a categorical column with a reference).
    column_checks: tuple[tuple[int, float, float, int], ...] = ()
    seen_list: tuple[bool, ...] = ()

    @property
    def folds(self) -> bool:
        """True when some features are summed under `__other__`."""
        return self.tracked < self.lower.size


def data_quality_profile_build(
    *,
    schema: FeatureSchema,
    max_features: int,
    reference_ranges: Mapping[str, tuple[float, float]] | None = None,
    reference_categories: Mapping[str, Sequence[bool]] | None = None,
    reference_key: ReferenceKey | None = None,
) -> DataQualityProfile:
    """Build the profile of a schema. `reference_ranges`: feature name -> (observed min, observed max) of the active
    reference; `reference_categories`: feature name -> for each schema category (in schema order) whether the
    reference contains it. None (no active reference): only schema bounds and missing values are checked."""
    ranges = reference_ranges or {}
    categories = reference_categories or {}
    features = schema.features
    width = len(features)
    lower = np.full(width, -np.inf)
    upper = np.full(width, np.inf)
    for column, feature in enumerate(features):
        if feature.kind != NUMERIC:
            continue
        observed = ranges.get(feature.name)
        if observed is not None and np.isfinite(observed).all():
            lower[column], upper[column] = observed
        else:
            lower[column] = -np.inf if feature.minimum is None else feature.minimum
            upper[column] = np.inf if feature.maximum is None else feature.maximum
    categorical_columns = [
        column for column, f in enumerate(features) if f.kind == CATEGORICAL and f.name in categories
    ]
    seen_parts = [
        np.asarray(categories[features[column].name], dtype=bool)[: len(features[column].categories)]
        for column in categorical_columns
    ]
    seen_parts = [
        np.pad(part, (0, len(features[column].categories) - part.size), constant_values=False)
        for part, column in zip(seen_parts, categorical_columns, strict=True)
    ]
    sizes = [part.size for part in seen_parts]
    cap = max(1, int(max_features))
    tracked = min(width, cap)
    slot_names = tuple(f.name for f in features[:tracked]) + ((OTHER_FEATURE,) if width > tracked else ())
    per_feature = np.zeros((4, width), dtype=bool)
    per_feature[_MISSING] = [f.nullable for f in features]
    per_feature[_BELOW] = np.isfinite(lower)
    per_feature[_ABOVE] = np.isfinite(upper)
    per_feature[_UNSEEN, categorical_columns] = True
    applies = _fold(per_feature, tracked, np.any)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp) if sizes else np.empty(0, dtype=np.intp)
    category_offset = dict(zip(categorical_columns, offsets.tolist(), strict=True))
    column_checks = tuple(
        (min(column, tracked), float(lower[column]), float(upper[column]), category_offset.get(column, -1))
        for column in range(width)
    )
    return DataQualityProfile(
        reference_key=reference_key,
        lower=lower,
        upper=upper,
        categorical_columns=np.asarray(categorical_columns, dtype=np.intp),
        category_offsets=offsets,
        seen=np.concatenate(seen_parts) if seen_parts else np.empty(0, dtype=bool),
        slot_names=slot_names,
        tracked=tracked,
        applies=applies,
        column_checks=column_checks,
        seen_list=tuple(bool(flag) for part in seen_parts for flag in part.tolist()),
    )


def data_quality_counts(profile: DataQualityProfile, matrix: np.ndarray) -> np.ndarray:
    """Counts [4, slots] (missing, below, above, unseen) of a logged matrix [rows, k]: the four checks written into
    one boolean array [4, rows, k] by whole-batch ufuncs, one count over rows, then features folded into their label
    slots. NaN compares False, so a missing value is never out of range."""
    flags = np.zeros((4, *matrix.shape), dtype=bool)
    np.isnan(matrix, out=flags[_MISSING])
    np.less(matrix, profile.lower, out=flags[_BELOW])
    np.greater(matrix, profile.upper, out=flags[_ABOVE])
    if profile.categorical_columns.size:
        codes = matrix[:, profile.categorical_columns]
        present = ~np.isnan(codes)
        index = np.where(present, codes, 0.0).astype(np.intp) + profile.category_offsets
        flags[_UNSEEN][:, profile.categorical_columns] = present & ~profile.seen[index]
    per_feature = np.count_nonzero(flags, axis=1)
    return _fold(per_feature, profile.tracked, np.sum) if profile.folds else per_feature


# Up to this many cells (rows x features) a batch is counted in Python: numpy's per-call overhead (a dozen calls of
# ~1-2 us) outweighs a loop over a few rows.
_SMALL_CELLS = 64


def data_quality_counts_small(profile: DataQualityProfile, rows: list[list[float]]) -> dict[tuple[int, int], int]:
    """The non-zero counts of data_quality_counts as {(check, slot): count}, for a few logged rows given as lists:
    the same checks in a Python loop (a value is missing, else below, else above, else an unseen category)."""
    counts: dict[tuple[int, int], int] = {}
    seen = profile.seen_list
    for row in rows:
        for value, (slot, lower, upper, offset) in zip(row, profile.column_checks, strict=True):
            if value != value:  # NaN
                check = _MISSING
            elif value < lower:
                check = _BELOW
            elif value > upper:
                check = _ABOVE
            elif offset >= 0 and not seen[offset + int(value)]:
                check = _UNSEEN
            else:
                continue
            counts[check, slot] = counts.get((check, slot), 0) + 1
    return counts


def _fold(per_feature: np.ndarray, tracked: int, combine: Callable[..., np.ndarray]) -> np.ndarray:
    """[4, k] per feature -> [4, tracked (+ 1)]: the features past `tracked` combined into one `__other__` column."""
    if per_feature.shape[1] <= tracked:
        return per_feature
    return np.concatenate([per_feature[:, :tracked], combine(per_feature[:, tracked:], axis=1, keepdims=True)], axis=1)


# --- the per-process cache and the hot-path entry ---------------------------------------------------------------


@dataclass
class _Cached:
    checked_at: float
    schema: FeatureSchema
    profile: DataQualityProfile


_lock = threading.Lock()
_profiles: dict[int, _Cached] = {}


def data_quality_forget() -> None:
    """Forget every cached profile in this process (after a reference upload or activation here)."""
    with _lock:
        _profiles.clear()


@dataclass(frozen=True)
class ReferenceSource:
    """Where the active reference of a model version is read. Reference datasets belong to the drift app, which sits
    above this one (docs/architecture.md): it registers its selectors here when Django starts (drift/apps.py), so
    this module never imports it. `active_key(version id)`: the active reference's key or None (one small query);
    `expectations(key)`: its ranges and categories."""

    active_key: Callable[[int], ReferenceKey | None]
    expectations: Callable[[ReferenceKey], ReferenceExpectations]


_source: ReferenceSource | None = None


def reference_source_register(source: ReferenceSource | None) -> None:
    """Set the reader of active references (None: none; only schema bounds and missing values are checked)."""
    global _source
    _source = source
    data_quality_forget()


def _profile_load(*, schema: FeatureSchema, key: ReferenceKey | None) -> DataQualityProfile:
    """The profile of a schema against the reference `key` (None: no active reference)."""
    ranges: Mapping[str, tuple[float, float]] = {}
    categories: Mapping[str, Sequence[bool]] = {}
    if key is not None and _source is not None:
        ranges, categories = _source.expectations(key)
    return data_quality_profile_build(
        schema=schema,
        max_features=settings.DATA_QUALITY_MAX_FEATURES,
        reference_ranges=ranges,
        reference_categories=categories,
        reference_key=key,
    )


def data_quality_profile_get(*, version_id: int, schema: FeatureSchema, model_name: str) -> DataQualityProfile:
    """The cached profile of a model version; the active reference is checked at most every
    MODEL_REGISTRY_CACHE_SECONDS. A new profile creates its counters at 0, so rates start from the first batch."""
    now = time.monotonic()
    cached = _profiles.get(version_id)
    if (
        cached is not None
        and cached.schema is schema
        and now - cached.checked_at < settings.MODEL_REGISTRY_CACHE_SECONDS
    ):
        return cached.profile
    key = _source.active_key(version_id) if _source is not None else None
    if cached is not None and cached.schema is schema and cached.profile.reference_key == key:
        cached.checked_at = now
        return cached.profile
    profile = _profile_load(schema=schema, key=key)
    _series_create(profile, model_name)
    with _lock:
        _profiles[version_id] = _Cached(checked_at=now, schema=schema, profile=profile)
    return profile


def _series_create(profile: DataQualityProfile, model_name: str) -> None:
    """Create the profile's series at 0 (a counter that appears with its first increment loses it to rate())."""
    labelled(DATA_QUALITY_ROWS, model_name)
    for slot in np.flatnonzero(profile.applies.any(axis=0)).tolist():
        name = profile.slot_names[slot]
        if profile.applies[_MISSING, slot]:
            labelled(FEATURE_MISSING, model_name, name)
        for row, side in ((_BELOW, "below"), (_ABOVE, "above")):
            if profile.applies[row, slot]:
                labelled(FEATURE_OUT_OF_RANGE, model_name, name, side)
        if profile.applies[_UNSEEN, slot]:
            labelled(FEATURE_UNSEEN_CATEGORY, model_name, name)


def data_quality_batch_record(
    *,
    version_id: int,
    schema: FeatureSchema,
    model_name: str,
    matrix: np.ndarray,
    writes: MetricWrites,
) -> None:
    """Count one committed batch's logged rows [rows, k] (all the coalesced requests of one version) and add the
    counts to the data-quality counters: a few numpy passes over the batch and one increment per non-zero series,
    gathered in `writes` (the caller writes them)."""
    if not settings.METRICS_ENABLED or matrix.size == 0:
        return
    profile = data_quality_profile_get(version_id=version_id, schema=schema, model_name=model_name)
    if matrix.size <= _SMALL_CELLS:
        nonzero = data_quality_counts_small(profile, matrix.tolist())
    else:
        counts = data_quality_counts(profile, matrix)
        checks, slots = np.nonzero(counts)
        nonzero = {
            (check, slot): int(counts[check, slot]) for check, slot in zip(checks.tolist(), slots.tolist(), strict=True)
        }
    writes.inc(labelled(DATA_QUALITY_ROWS, model_name), int(matrix.shape[0]))
    for (check, slot), value in nonzero.items():
        name = profile.slot_names[slot]
        if check == _MISSING:
            writes.inc(labelled(FEATURE_MISSING, model_name, name), value)
        elif check == _UNSEEN:
            writes.inc(labelled(FEATURE_UNSEEN_CATEGORY, model_name, name), value)
        else:
            writes.inc(labelled(FEATURE_OUT_OF_RANGE, model_name, name, SIDES[check - _BELOW]), value)
