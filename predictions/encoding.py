"""The prediction-log row format, encoded and decoded here and nowhere else.

A row is one float64 per feature of the schema, in schema order: a number as it is, a categorical value as the index of
its category in the schema's list (0.0, 1.0, ...), NaN for a missing value. The prediction log stores each row as the
bytes of that vector (Prediction.features) and the class probabilities likewise (Prediction.probabilities): a drift
window of 10^5 rows is then one indexed query and one `np.frombuffer`, not 10^5 JSON decodes. Reference datasets are
encoded the same way (drift/reference.py), so the drift engine compares like with like.

`RowEncoder` checks input rows against a schema and gives both the model's input and the logged vector; the byte
helpers turn vectors into stored bytes and back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np

from .schema import CATEGORICAL, NUMERIC, Feature, FeatureSchema

MISSING = math.nan  # the logged value of a missing feature
# One feature's value as the model takes it: a number (NaN when missing), a category, or None for a missing category.
ModelValue = float | str | None


class RowError(ValueError):
    """An input row that does not fit the schema; `field` names the feature. `code` and `status` are the API error's
    (400 invalid_input; 422 out_of_bounds for a value outside the schema's bounds)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        code: str = "invalid_input",
        status: int = 400,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.row = row
        self.code = code
        self.status = status


def _numeric_value(feature: Feature, value: object) -> float:
    """Check one numeric value; None/NaN stand for missing and need a nullable feature."""
    if value is None:
        if feature.nullable:
            return MISSING
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
            return MISSING
        raise RowError(
            f"feature {feature.name!r} is NaN but the schema does not allow missing values", field=feature.name
        )
    if math.isinf(number):
        raise RowError(f"feature {feature.name!r} is infinite; only finite numbers are accepted", field=feature.name)
    return number


class RowEncoder:
    """Checks input rows against a schema and encodes them for the model and for the prediction log (the format in
    this module's docstring); decodes logged vectors back into {name: value}."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.names = schema.names
        self.width = len(self.names)
        self.name_set = frozenset(self.names)
        self.category_codes = [
            {category: float(code) for code, category in enumerate(feature.categories)} for feature in schema.features
        ]
        # The schema's inclusive bounds per column, -inf/+inf where none: one vectorized check per request.
        self.lower = np.asarray([-np.inf if f.minimum is None else f.minimum for f in schema.features])
        self.upper = np.asarray([np.inf if f.maximum is None else f.maximum for f in schema.features])
        self.has_bounds = bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())

    def bounds_check(self, log_matrix: np.ndarray) -> None:
        """Raise RowError (code out_of_bounds, 422) naming the first row and feature whose value lies outside the
        schema's bounds; missing values (NaN) pass. Vectorized: one comparison per bound over the whole matrix."""
        if not self.has_bounds or log_matrix.size == 0:
            return
        outside = (log_matrix < self.lower) | (log_matrix > self.upper)
        if not outside.any():
            return
        row, column = (int(i) for i in np.argwhere(outside)[0])
        feature = self.schema.features[column]
        value = float(log_matrix[row, column])
        side, bound = ("min", feature.minimum) if value < self.lower[column] else ("max", feature.maximum)
        raise RowError(
            f"feature {feature.name!r} is {value!r}, outside the schema's bounds ({side} {bound!r})",
            field=feature.name,
            row=row,
            code="out_of_bounds",
            status=422,
        )

    def category_code(self, column: int, value: str) -> float | None:
        """The logged code of a category of the feature at `column`; None when the value is not one of them."""
        return self.category_codes[column].get(value)

    def _ordered(self, row: object) -> list[object]:
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

    def encode_row(self, row: object) -> tuple[list[ModelValue], list[float]]:
        """Check one row; return (the model's input values, the logged float vector)."""
        values = self._ordered(row)
        model_values: list[ModelValue] = []
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
                    vector.append(MISSING)
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

    def _encode_numeric_lists(self, rows: Sequence[object]) -> np.ndarray | None:
        """Fast path for an all-numeric schema and rows given as lists of ints and floats, all finite.

        Returns None whenever anything is off (a dict row, a wrong length, a bool, a string, a NaN, ...): the
        row-by-row path then finds the problem and names the row and feature.
        """
        width = self.width
        if not all(type(row) is list and len(row) == width for row in rows):
            return None
        lists = cast("Sequence[list[object]]", rows)  # every row was just seen to be a list
        if not {type(value) for row in lists for value in row} <= {int, float}:
            return None
        try:
            matrix = np.asarray(rows, dtype=np.float64)
        except OverflowError:  # an int too large for a float: the slow path reports it
            return None
        if not np.isfinite(matrix).all():
            return None
        return matrix

    def encode_rows(self, rows: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
        """Check rows; return (model input matrix, float64 log matrix). Raises RowError with the row index (code
        out_of_bounds when a value lies outside the schema's bounds)."""
        if self.schema.is_all_numeric:
            fast = self._encode_numeric_lists(rows)
            if fast is not None:
                self.bounds_check(fast)
                return fast, fast
        model_rows: list[list[ModelValue]] = []
        vectors: list[list[float]] = []
        for index, row in enumerate(rows):
            try:
                model_values, vector = self.encode_row(row)
            except RowError as exc:
                raise RowError(str(exc), field=exc.field, row=index) from exc
            model_rows.append(model_values)
            vectors.append(vector)
        log_matrix = np.asarray(vectors, dtype=np.float64).reshape(len(rows), self.width)
        self.bounds_check(log_matrix)
        if self.schema.is_all_numeric:
            return log_matrix, log_matrix
        model_matrix = np.empty((len(rows), self.width), dtype=object)
        for index, values in enumerate(model_rows):
            model_matrix[index, :] = values
        return model_matrix, log_matrix

    def decode_vector(self, vector: np.ndarray) -> dict[str, ModelValue]:
        """Turn a logged float vector back into {name: value} for people to read."""
        decoded: dict[str, ModelValue] = {}
        for feature, value in zip(self.schema.features, vector.tolist(), strict=True):
            if math.isnan(value):
                decoded[feature.name] = None
            elif feature.kind == CATEGORICAL:
                decoded[feature.name] = feature.categories[int(value)]
            else:
                decoded[feature.name] = value
        return decoded


def rows_to_bytes(matrix: np.ndarray) -> list[bytes]:
    """The stored form of each row of a matrix of logged vectors (rows' features or their class probabilities):
    float64 bytes, one converted matrix rather than one conversion per row."""
    return [row.tobytes() for row in np.ascontiguousarray(matrix, dtype=np.float64)]


def vector_from_bytes(blob: bytes | memoryview) -> np.ndarray:
    """One stored vector back as float64 [k]."""
    return np.frombuffer(bytes(blob), dtype=np.float64)


def matrix_from_bytes(blobs: Iterable[bytes | memoryview], *, rows: int, width: int) -> np.ndarray:
    """`rows` stored vectors of `width` values each as one float64 [rows, width] matrix (one copy, no per-row work)."""
    if rows == 0:
        return np.empty((0, width), dtype=np.float64)
    return np.frombuffer(b"".join(bytes(blob) for blob in blobs), dtype=np.float64).reshape(rows, width)
