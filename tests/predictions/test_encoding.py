"""The prediction-log row format (predictions/encoding.py): rows checked and encoded for the model and the log,
vectors decoded back, and the stored bytes."""

from __future__ import annotations

import math

import numpy as np

from predictions.encoding import RowEncoder, RowError, matrix_from_bytes, rows_to_bytes, vector_from_bytes
from predictions.schema import feature_schema_parse

MIXED = [
    {"name": "size", "type": "numeric", "nullable": True},
    {"name": "color", "type": "categorical", "categories": ["red", "green", "blue"], "nullable": True},
]


def test_the_numeric_fast_path_agrees_with_the_row_by_row_path() -> None:
    """Lists of finite numbers take the vectorized path and give the same matrix; anything else (bools, NaN,
    strings, dicts, short rows) still gets the row-by-row check with the row and feature named."""
    schema = feature_schema_parse([{"name": n, "type": "numeric"} for n in ("a", "b")])
    encoder = RowEncoder(schema)
    rows = [[1, 2.5], [3.0, -4]]
    model_input, logged = encoder.encode_rows(rows)
    slow = np.asarray([encoder.encode_row(row)[1] for row in rows])
    assert np.array_equal(logged, slow) and model_input is logged
    for bad, fragment in (
        ([[1, 2], [True, 2]], "row 1"),
        ([[1, 2], [float("nan"), 2]], "NaN"),
        ([[1, 2], [1, "2"]], "must be a number"),
        ([[1, 2], [1]], "expected 2 features"),
        ([[1, 2], [1, 10**400]], "infinite"),
    ):
        try:
            encoder.encode_rows(bad)
        except RowError as exc:
            assert fragment in str(exc) or fragment == f"row {exc.row}"
            assert exc.row == 1
        else:
            raise AssertionError(f"{bad} was accepted")


def test_rows_round_trip_through_the_logged_vector_and_its_bytes() -> None:
    """A number stays itself, a category becomes its index in the schema and comes back as its name, a missing value
    is NaN in the log and None when decoded; the stored bytes give back the same matrix."""
    # given
    encoder = RowEncoder(feature_schema_parse(MIXED))
    rows = [{"size": 1.5, "color": "blue"}, [None, "red"], {"size": -2, "color": None}]
    # when
    model_input, logged = encoder.encode_rows(rows)
    stored = rows_to_bytes(logged)
    # then
    assert logged[0].tolist() == [1.5, 2.0] and logged[1][1] == 0.0
    assert math.isnan(logged[1][0]) and math.isnan(logged[2][1])
    assert model_input[0].tolist() == [1.5, "blue"] and model_input[2].tolist() == [-2.0, None]
    assert math.isnan(model_input[1][0]) and model_input[1][1] == "red"  # a missing number reaches the model as NaN
    assert np.array_equal(matrix_from_bytes(stored, rows=3, width=2), logged, equal_nan=True)
    assert [encoder.decode_vector(vector_from_bytes(blob)) for blob in stored] == [
        {"size": 1.5, "color": "blue"},
        {"size": None, "color": "red"},
        {"size": -2.0, "color": None},
    ]
    assert encoder.category_code(1, "green") == 1.0 and encoder.category_code(1, "purple") is None
