"""The feature schema of a model version: an ordered list of typed features, and the checks on input rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC = "numeric"
CATEGORICAL = "categorical"


class SchemaError(ValueError):
    """A feature schema that is not well formed."""


class RowError(ValueError):
    """An input row that does not fit the schema; `field` names the feature."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


@dataclass(frozen=True)
class Feature:
    """One input feature: its name, kind, allowed categories and whether it may be missing."""

    name: str
    kind: str
    categories: tuple[str, ...] = ()
    nullable: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored on the model version."""
        data: dict[str, Any] = {"name": self.name, "type": self.kind, "nullable": self.nullable}
        if self.kind == CATEGORICAL:
            data["categories"] = list(self.categories)
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


def feature_schema_parse(raw: Any) -> FeatureSchema:
    """Parse and check the stored JSON form of a schema; raise SchemaError saying what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise SchemaError("The feature schema must be a non-empty list of features.")
    features: list[Feature] = []
    seen: set[str] = set()
    for position, item in enumerate(raw):
        where = f"feature #{position}"
        if not isinstance(item, dict):
            raise SchemaError(f"{where} must be an object with name and type.")
        unknown = set(item) - {"name", "type", "categories", "nullable"}
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
        features.append(Feature(name=name, kind=kind, categories=categories, nullable=nullable))
    return FeatureSchema(features=tuple(features))


def _numeric_value(feature: Feature, value: Any) -> float:
    """Check one numeric value; None/NaN stand for missing and need a nullable feature."""
    if value is None:
        if feature.nullable:
            return math.nan
        raise RowError(
            f"feature {feature.name!r} is null but the schema does not allow missing values", field=feature.name
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError(
            f"feature {feature.name!r} must be a number, got {type(value).__name__} {value!r}", field=feature.name
        )
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        raise RowError(f"feature {feature.name!r} is infinite; only finite numbers are accepted", field=feature.name)
    if math.isnan(number):
        if feature.nullable:
            return math.nan
        raise RowError(
            f"feature {feature.name!r} is NaN but the schema does not allow missing values", field=feature.name
        )
    if math.isinf(number):
        raise RowError(f"feature {feature.name!r} is infinite; only finite numbers are accepted", field=feature.name)
    return number


class RowEncoder:
    """Checks input rows against a schema and encodes them for the model and for the prediction log.

    The log stores each row as float64: numeric values as they are (NaN = missing), categorical values as the index
    of the category in the schema. That one fixed-width vector lets the drift work read 10^5 rows in one query.
    """

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.names = schema.names
        self.width = len(self.names)
        self.name_set = frozenset(self.names)
        self.category_codes = [
            {category: float(code) for code, category in enumerate(feature.categories)} for feature in schema.features
        ]

    def _ordered(self, row: Any) -> list[Any]:
        """Put a row given as list or as {name: value} into schema order."""
        if isinstance(row, dict):
            missing = [name for name in self.names if name not in row]
            extra = sorted(set(row) - self.name_set)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"missing features: {', '.join(missing)}")
                if extra:
                    parts.append(f"unknown features: {', '.join(str(e) for e in extra)}")
                raise RowError("; ".join(parts), field=(missing or extra)[0])
            return [row[name] for name in self.names]
        if isinstance(row, list):
            if len(row) != self.width:
                raise RowError(
                    f"expected {self.width} features ({', '.join(self.names)}), got {len(row)}", field="features"
                )
            return row
        raise RowError(
            f"a row must be a list of {self.width} values or an object keyed by feature name, got {type(row).__name__}",
            field="features",
        )

    def encode_row(self, row: Any) -> tuple[list[Any], list[float]]:
        """Check one row; return (the model's input values, the logged float vector)."""
        values = self._ordered(row)
        model_values: list[Any] = []
        vector: list[float] = []
        for feature, codes, value in zip(self.schema.features, self.category_codes, values, strict=True):
            if feature.kind == NUMERIC:
                number = _numeric_value(feature, value)
                model_values.append(number)
                vector.append(number)
            else:
                if value is None:
                    if not feature.nullable:
                        raise RowError(
                            f"feature {feature.name!r} is null but the schema does not allow missing values",
                            field=feature.name,
                        )
                    model_values.append(None)
                    vector.append(math.nan)
                    continue
                if not isinstance(value, str):
                    raise RowError(
                        f"feature {feature.name!r} must be a string category, got {type(value).__name__} {value!r}",
                        field=feature.name,
                    )
                code = codes.get(value)
                if code is None:
                    allowed = ", ".join(feature.categories)
                    raise RowError(
                        f"feature {feature.name!r}: unknown category {value!r} (allowed: {allowed})", field=feature.name
                    )
                model_values.append(value)
                vector.append(code)
        return model_values, vector

    def _encode_numeric_lists(self, rows: list[Any]) -> np.ndarray | None:
        """Fast path for an all-numeric schema and rows given as lists of ints and floats, all finite.

        Returns None whenever anything is off (a dict row, a wrong length, a bool, a string, a NaN, ...): the
        row-by-row path then finds the problem and names the row and feature.
        """
        width = self.width
        if not all(type(row) is list and len(row) == width for row in rows):
            return None
        if not {type(value) for row in rows for value in row} <= {int, float}:
            return None
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except OverflowError:  # an int too large for a float: the slow path reports it
            return None
        if not np.isfinite(matrix).all():
            return None
        return matrix

    def encode_rows(self, rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Check rows; return (model input matrix, float64 log matrix). Raises RowError with the row index."""
        if self.schema.is_all_numeric:
            fast = self._encode_numeric_lists(rows)
            if fast is not None:
                return fast, fast
        model_rows: list[list[Any]] = []
        vectors: list[list[float]] = []
        for index, row in enumerate(rows):
            try:
                model_values, vector = self.encode_row(row)
            except RowError as exc:
                raise RowError(str(exc), field=exc.field, row=index) from exc
            model_rows.append(model_values)
            vectors.append(vector)
        log_matrix = np.asarray(vectors, dtype=np.float64).reshape(len(rows), self.width)
        if self.schema.is_all_numeric:
            return log_matrix, log_matrix
        model_matrix = np.empty((len(rows), self.width), dtype=object)
        for index, values in enumerate(model_rows):
            model_matrix[index, :] = values
        return model_matrix, log_matrix

    def decode_vector(self, vector: np.ndarray) -> dict[str, Any]:
        """Turn a logged float vector back into {name: value} for people to read."""
        decoded: dict[str, Any] = {}
        for feature, value in zip(self.schema.features, vector.tolist(), strict=True):
            if math.isnan(value):
                decoded[feature.name] = None
            elif feature.kind == CATEGORICAL:
                decoded[feature.name] = feature.categories[int(value)]
            else:
                decoded[feature.name] = value
        return decoded
