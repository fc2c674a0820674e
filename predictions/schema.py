"""The feature schema of a model version: an ordered list of typed features (numeric or categorical, nullable or not).

Input rows are checked against it and encoded by predictions/encoding.py. A numeric feature may carry optional
bounds `min` and `max` (finite numbers, inclusive): the predict API refuses a value outside them with a 422
`out_of_bounds` naming the feature. Without bounds any finite value is accepted; the data-quality monitors
(predictions/data_quality.py) count values outside the active reference's observed range instead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

NUMERIC = "numeric"
CATEGORICAL = "categorical"


class SchemaError(ValueError):
    """A feature schema that is not well formed."""


@dataclass(frozen=True)
class Feature:
    """One input feature: its name, kind, allowed categories, whether it may be missing, and optional inclusive
    bounds `minimum`/`maximum` of a numeric feature (None: unbounded on that side)."""

    name: str
    kind: str
    categories: tuple[str, ...] = ()
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored on the model version."""
        data: dict[str, Any] = {"name": self.name, "type": self.kind, "nullable": self.nullable}
        if self.kind == CATEGORICAL:
            data["categories"] = list(self.categories)
        if self.minimum is not None:
            data["min"] = self.minimum
        if self.maximum is not None:
            data["max"] = self.maximum
        return data


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered features of a model version, with fast lookups for validation and encoding."""

    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        """Feature names in order."""
        return [feature.name for feature in self.features]

    @property
    def is_all_numeric(self) -> bool:
        """True when every feature is numeric (the model then takes a float matrix)."""
        return all(feature.kind == NUMERIC for feature in self.features)

    def to_json(self) -> list[dict[str, Any]]:
        """The JSON form stored on the model version."""
        return [feature.to_json() for feature in self.features]

    def index(self, name: str) -> int:
        """Position of a feature by name."""
        return self.names.index(name)


def feature_schema_parse(raw: object) -> FeatureSchema:
    """Parse and check the stored JSON form of a schema; raise SchemaError saying what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise SchemaError("The feature schema must be a non-empty list of features.")
    features: list[Feature] = []
    seen: set[str] = set()
    for position, item in enumerate(raw):
        where = f"feature #{position}"
        if not isinstance(item, dict):
            raise SchemaError(f"{where} must be an object with name and type.")
        unknown = set(item) - {"name", "type", "categories", "nullable", "min", "max"}
        if unknown:
            raise SchemaError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SchemaError(f"{where} needs a non-empty string name.")
        if name in seen:
            raise SchemaError(f"Feature name {name!r} appears twice.")
        seen.add(name)
        kind = item.get("type", NUMERIC)
        if kind not in (NUMERIC, CATEGORICAL):
            raise SchemaError(f"Feature {name!r}: type must be 'numeric' or 'categorical', not {kind!r}.")
        nullable = item.get("nullable", False)
        if not isinstance(nullable, bool):
            raise SchemaError(f"Feature {name!r}: nullable must be true or false.")
        categories: tuple[str, ...] = ()
        if kind == CATEGORICAL:
            raw_categories = item.get("categories")
            if not isinstance(raw_categories, list) or not raw_categories:
                raise SchemaError(f"Feature {name!r}: a categorical feature needs a non-empty list of categories.")
            if not all(isinstance(c, str) for c in raw_categories):
                raise SchemaError(f"Feature {name!r}: categories must be strings.")
            if len(set(raw_categories)) != len(raw_categories):
                raise SchemaError(f"Feature {name!r}: categories must be unique.")
            categories = tuple(raw_categories)
        elif item.get("categories"):
            raise SchemaError(f"Feature {name!r}: only categorical features have categories.")
        minimum, maximum = _bounds_parse(name, kind, item)
        features.append(
            Feature(name=name, kind=kind, categories=categories, nullable=nullable, minimum=minimum, maximum=maximum)
        )
    return FeatureSchema(features=tuple(features))


def _bounds_parse(name: str, kind: str, item: dict[str, Any]) -> tuple[float | None, float | None]:
    """The optional `min`/`max` of one feature: finite numbers, numeric features only, min <= max."""
    bounds: list[float | None] = []
    for key in ("min", "max"):
        raw = item.get(key)
        if raw is None:
            bounds.append(None)
            continue
        if kind != NUMERIC:
            raise SchemaError(f"Feature {name!r}: only numeric features have {key!r} bounds.")
        try:
            value = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else math.nan
        except OverflowError:  # an integer beyond float range
            value = math.inf
        if not math.isfinite(value):
            raise SchemaError(f"Feature {name!r}: {key!r} must be a finite number, not {raw!r}.")
        bounds.append(value)
    minimum, maximum = bounds
    if minimum is not None and maximum is not None and minimum > maximum:
        raise SchemaError(f"Feature {name!r}: 'min' ({minimum}) is greater than 'max' ({maximum}).")
    return minimum, maximum
