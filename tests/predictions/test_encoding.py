"""The prediction-log row format (predictions/encoding.py): rows checked and encoded for the model and the log,
vectors decoded back, and the stored bytes."""

from __future__ import annotations

import math

import numpy as np
import pytest

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


NUMERIC_BOUNDED = [
    {"name": "a", "type": "numeric", "min": 0, "max": 10},
    {"name": "b", "type": "numeric"},
    {"name": "c", "type": "numeric", "nullable": True},
]


def _error(encoder: RowEncoder, rows: list[object]) -> tuple[str, str | None, int | None, str, int]:
    try:
        encoder.encode_rows(rows)
    except RowError as exc:
        return str(exc), exc.field, exc.row, exc.code, exc.status
    raise AssertionError(f"{rows} was accepted")


@pytest.mark.parametrize(
    "bad",
    [
        [1.0, 2.0],  # too short
        [1.0, 2.0, 3.0, 4.0],  # too long
        [1.0, True, 3.0],  # a bool is not a number
        [1.0, "2.5", 3.0],  # a number in a string
        [1.0, "NaN", 3.0],
        [1.0, "Infinity", 3.0],
        [1.0, None, 3.0],  # null in a non-nullable feature
        [1.0, math.nan, 3.0],  # NaN in a non-nullable feature
        [1.0, math.inf, 3.0],
        [1.0, -math.inf, None],
        [1.0, 10**400, 3.0],  # an integer beyond float range
        [1.0, [2.0], 3.0],
        [-0.5, 2.0, 3.0],  # below the schema's min
        [10.5, 2.0, 3.0],  # above the schema's max
        {"a": 1.0, "b": "x", "c": None},
        {"a": 1.0, "b": 2.0},
        "1,2,3",
        None,
    ],
)
def test_a_bad_row_in_a_numeric_batch_gets_exactly_the_error_of_the_row_by_row_path(
    bad: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An all-numeric batch of finite numbers is checked by the vectorized path; with one bad row among good ones
    the error (message, field, row, code, status) is exactly the one the row-by-row path gives for the same batch,
    and the same as that row checked alone, with its index in the batch."""
    # given
    encoder = RowEncoder(feature_schema_parse(NUMERIC_BOUNDED))
    row_by_row = RowEncoder(feature_schema_parse(NUMERIC_BOUNDED))
    monkeypatch.setattr(row_by_row, "_encode_numeric_lists", lambda rows: None)  # the vectorized path off
    good: list[object] = [[5, 2.5, 1], [0, -1, 3.25], [10, 1e300, 0.0]]
    assert encoder._encode_numeric_lists(good) is not None  # the good rows alone take the vectorized path
    batch = [*good, *good, bad, *good]
    message, field, row, code, status = _error(row_by_row, [bad])
    # when
    got = _error(encoder, batch)
    # then
    assert got == _error(row_by_row, batch) == (message, field, 6, code, status)
    assert row == 0


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ([1.0, "purple"], "unknown category 'purple'"),
        ([1.0, 2], "must be a string category"),
        ([1.0, True], "must be a string category"),
        ({"size": 1.0}, "missing features: color"),
        ([1.0, "red", "extra"], "expected 2 features"),
    ],
)
def test_a_bad_row_in_a_mixed_batch_gets_exactly_the_error_it_gets_alone(bad: object, fragment: str) -> None:
    """Categorical values: a batch names the first bad row and field exactly as that row alone does."""
    # given
    encoder = RowEncoder(feature_schema_parse(MIXED))
    good: list[object] = [[1.5, "blue"], {"size": None, "color": "red"}, [2, None]]
    message, field, _, code, status = _error(encoder, [bad])
    assert fragment in message
    # when
    got = _error(encoder, [*good, bad, *good])
    # then
    assert got == (message, field, 3, code, status)
