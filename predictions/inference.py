"""Loading model artifacts safely (skops, trusted types only), checking them, and a per-process model cache."""

from __future__ import annotations

import hashlib
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import sklearn
import skops.io

from .compiled import Compiled, linear_pipeline_compile
from .encoding import RowEncoder
from .schema import CATEGORICAL, FeatureSchema


class ArtifactError(ValueError):
    """An artifact that cannot be used: unreadable, untrusted, or not matching its schema."""


class ProbabilisticClassifier(Protocol):
    """What a served estimator offers (scikit-learn's classifier API): class probabilities per row."""

    def predict_proba(self, X: Any) -> Any:
        """Probabilities [n rows, classes], columns in classes_ order."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """An estimator ready to answer, with what was checked about it (compared by identity: one per load)."""

    estimator: ProbabilisticClassifier
    schema: FeatureSchema
    class_labels: tuple[str, ...]
    memory_bytes: int
    sha256: str

    @cached_property
    def encoder(self) -> RowEncoder:
        """Checks and encodes input rows against the schema this model was loaded with."""
        return RowEncoder(self.schema)

    @cached_property
    def compiled(self) -> Compiled | None:
        """The estimator as a numpy function (predictions/compiled.py) when it is a supported linear pipeline over
        an all-numeric, non-nullable schema and agrees with its own predict_proba on 66 probe rows; else None."""
        if not self.schema.is_all_numeric or any(feature.nullable for feature in self.schema.features):
            return None
        width = len(self.schema.features)
        probe = np.vstack(
            [np.zeros((1, width)), np.ones((1, width)), np.random.default_rng(0).normal(0, 5, (64, width))]
        )
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return linear_pipeline_compile(self.estimator, probe)

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities for each row, columns in class_labels order (through `compiled` when there is one:
        the same values, without scikit-learn's per-call overhead)."""
        compiled = self.compiled
        if compiled is not None and matrix.dtype == np.float64:
            return compiled(matrix)
        # Inputs were validated by the schema: skip parameter validation on the hot path, and the finite check too
        # unless the schema lets missing values (NaN) through, which only a model with an imputer can take.
        assume_finite = not any(feature.nullable for feature in self.schema.features)
        with sklearn.config_context(assume_finite=assume_finite, skip_parameter_validation=True):
            return np.asarray(self.estimator.predict_proba(matrix), dtype=np.float64)


def deep_size_bytes(obj: object, _seen: set[int] | None = None) -> int:
    """Memory held by an object graph: numpy buffers by nbytes, Python objects by sys.getsizeof."""
    seen = _seen if _seen is not None else set()
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        size = sys.getsizeof(obj) if obj.base is None else obj.nbytes
        if obj.dtype == object:
            size += sum(deep_size_bytes(item, seen) for item in obj.ravel().tolist())
        return size
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size_bytes(k, seen) + deep_size_bytes(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size_bytes(item, seen) for item in obj)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        size += deep_size_bytes(vars(obj), seen)
    return size


def _probe_matrix(schema: FeatureSchema) -> np.ndarray:
    """Rows for a smoke prediction: zeros/ones for numbers, the first categories for categories, and, when the schema
    has nullable features, a row with those missing (the model must cope with what the schema lets through)."""
    rows = []
    for fill in (0.0, 1.0):
        row: list[Any] = []
        for feature in schema.features:
            row.append(feature.categories[0] if feature.kind == CATEGORICAL else fill)
        rows.append(row)
    if any(feature.nullable for feature in schema.features):
        rows.append(
            [
                (None if feature.kind == CATEGORICAL else np.nan) if feature.nullable else value
                for feature, value in zip(schema.features, rows[0], strict=True)
            ]
        )
    if schema.is_all_numeric:
        return np.asarray(rows, dtype=np.float64)
    return np.asarray(rows, dtype=object)


def extra_trusted_types() -> list[str]:
    """Types beyond skops' defaults that the operator trusts (MODEL_TRUSTED_TYPES): by default scikit-learn's own tree
    structures and numpy.dtype, without which no tree model or SimpleImputer pipeline loads. Never arbitrary code."""
    from django.conf import settings

    return list(getattr(settings, "MODEL_TRUSTED_TYPES", []))


def artifact_load(*, data: bytes, schema: FeatureSchema, class_labels: list[str]) -> LoadedModel:
    """Load a skops artifact without running untrusted code and check it against the schema and class labels."""
    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as exc:
        raise ArtifactError(f"Not a readable skops artifact: {exc}") from exc
    trusted = set(extra_trusted_types())
    untrusted = [name for name in found if name not in trusted]
    if untrusted:
        raise ArtifactError(
            "The artifact contains types that are not trusted and will not be loaded: " + ", ".join(untrusted)
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = skops.io.loads(data, trusted=[name for name in found if name in trusted] or None)
    except Exception as exc:
        raise ArtifactError(f"The artifact could not be loaded: {exc}") from exc
    if not hasattr(estimator, "predict_proba"):
        raise ArtifactError(
            f"{type(estimator).__name__} has no predict_proba: only probabilistic classifiers can be monitored."
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise ArtifactError("The estimator is not fitted (it has no classes_).")
    model_labels = [str(c) for c in np.asarray(classes).tolist()]
    if model_labels != [str(c) for c in class_labels]:
        raise ArtifactError(f"Class labels {class_labels} do not match the model's classes_ {model_labels}.")
    expected = len(schema.features)
    n_in = getattr(estimator, "n_features_in_", None)
    if n_in is not None and int(n_in) != expected:
        raise ArtifactError(f"The model takes {n_in} features but the schema lists {expected}.")
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is not None and [str(n) for n in names_in] != schema.names:
        raise ArtifactError(f"The model's feature names {list(names_in)} differ from the schema's {schema.names}.")
    loaded = LoadedModel(
        estimator=estimator,
        schema=schema,
        class_labels=tuple(model_labels),
        memory_bytes=deep_size_bytes(estimator),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    try:
        probabilities = loaded.predict_proba(_probe_matrix(schema))
    except Exception as exc:
        raise ArtifactError(f"A test prediction on schema-shaped input failed: {exc}") from exc
    probe_rows = 3 if any(feature.nullable for feature in schema.features) else 2
    if probabilities.shape != (probe_rows, len(model_labels)):
        raise ArtifactError(
            f"predict_proba returned shape {probabilities.shape}, expected ({probe_rows}, {len(model_labels)})."
        )
    if not np.isfinite(probabilities).all():
        raise ArtifactError(
            "The model returns non-finite probabilities on schema-shaped input (a missing value for a nullable "
            "feature?): add an imputer to the pipeline or make the feature non-nullable."
        )
    return loaded


class ModelCache:
    """Loaded models of this process, keyed by version id; a model is loaded anew when its version's fingerprint
    (artifact, schema, labels: ModelVersion.cache_key) changes.

    At most `size` models stay loaded (least recently used go first), so retrains and activations do not pile up in
    workers that are never recycled.
    """

    def __init__(self, size: int | None = None) -> None:
        self._lock = threading.Lock()
        self._models: OrderedDict[int, tuple[str, LoadedModel]] = OrderedDict()
        self._size = size

    def get(self, *, version_id: int, fingerprint: str, loader: Callable[[], LoadedModel]) -> LoadedModel:
        """The loaded model for a version, loading it with `loader()` on first use or when its fingerprint changed."""
        with self._lock:  # uncontended most of the time; a hit must refresh the LRU order
            cached = self._models.get(version_id)
            if cached is not None and cached[0] == fingerprint:
                self._models.move_to_end(version_id)
                return cached[1]
        with self._lock:
            cached = self._models.get(version_id)
            if cached is None or cached[0] != fingerprint:
                cached = self._models[version_id] = (fingerprint, loader())
            self._models.move_to_end(version_id)
            size = self._size if self._size is not None else _configured_cache_size()
            while len(self._models) > size:
                self._models.popitem(last=False)
            return cached[1]

    def loaded_models(self) -> list[LoadedModel]:
        """The models loaded now, least recently used first."""
        with self._lock:
            return [loaded for _, loaded in self._models.values()]

    def clear(self) -> None:
        """Forget every model."""
        with self._lock:
            self._models.clear()


def _configured_cache_size() -> int:
    """MODEL_CACHE_SIZE, read when needed (settings may change in tests)."""
    from django.conf import settings

    return max(1, int(getattr(settings, "MODEL_CACHE_SIZE", 8)))


model_cache = ModelCache()
