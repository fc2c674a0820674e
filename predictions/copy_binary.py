"""Large prediction-log batches as one PostgreSQL binary COPY buffer built by numpy, with no Python work per row.

Every row of a batch has the same layout: the same model version, a features vector and a probabilities vector of
the model's fixed widths, and fixed-size numbers. In PostgreSQL's binary COPY format (docs: "COPY", section "Binary
Format") each row is then the same sequence of bytes: a 16-bit field count, and per field a 32-bit length and the
value in network byte order. A numpy structured array with that layout is filled column by column and sent with one
`copy.write`; psycopg's `write_row` instead costs several microseconds of Python per row (the largest cost of a
1,000-row batch, docs/benchmarks.md).

Stored values are the same as those of the row-by-row path: `features` and `probabilities` hold the float64 bytes of
each vector in the machine's order (predictions/encoding.py rows_to_bytes), the numbers are PostgreSQL's int8, int2
and float8.
"""

from __future__ import annotations

import numpy as np

# Binary COPY header: signature, flags (no OIDs), header extension length (docs: "COPY", "File Header").
_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER = (-1).to_bytes(2, "big", signed=True)
# The log's columns in this order (predictions.services._LOG_COLUMNS).
COLUMNS = ("id", "model_version_id", "features", "predicted_index", "confidence", "probabilities", "latency_ms")


def _row_dtype(width: int, classes: int) -> np.dtype:
    """One binary COPY row: 7 fields, each a big-endian 32-bit length then the value."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_length", ">i4"),
            ("id", "V16"),  # a uuid is its 16 bytes
            ("version_length", ">i4"),
            ("version", ">i8"),  # bigint
            ("features_length", ">i4"),
            ("features", np.float64, (width,)),  # bytea: the stored bytes, machine order as rows_to_bytes
            ("predicted_length", ">i4"),
            ("predicted", ">i2"),  # smallint
            ("confidence_length", ">i4"),
            ("confidence", ">f8"),  # double precision
            ("probabilities_length", ">i4"),
            ("probabilities", np.float64, (classes,)),
            ("latency_length", ">i4"),
            ("latency", ">f8"),
        ]
    )


def prediction_copy_buffer(
    *,
    ids: bytes,
    version_id: int,
    features: np.ndarray,
    predicted: np.ndarray,
    confidences: np.ndarray,
    probabilities: np.ndarray,
    latencies_ms: np.ndarray,
) -> bytes:
    """The whole binary COPY stream (header, rows, trailer) for n rows in COLUMNS order.

    ids: n UUIDs as 16 bytes each (n * 16 bytes); features [n, width] and probabilities [n, classes], float64;
    predicted [n] class indexes; confidences and latencies_ms [n]. ValueError when the shapes disagree."""
    count = len(predicted)
    if (
        len(ids) != 16 * count
        or features.ndim != 2
        or probabilities.ndim != 2
        or not (len(features) == len(confidences) == len(probabilities) == len(latencies_ms) == count)
    ):
        raise ValueError("prediction_copy_buffer: columns of different lengths")
    width, classes = features.shape[1], probabilities.shape[1]
    rows = np.empty(count, dtype=_row_dtype(width, classes))
    rows["fields"] = len(COLUMNS)
    rows["id_length"], rows["id"] = 16, np.frombuffer(ids, dtype="V16")
    rows["version_length"], rows["version"] = 8, version_id
    rows["features_length"], rows["features"] = 8 * width, features
    rows["predicted_length"], rows["predicted"] = 2, predicted
    rows["confidence_length"], rows["confidence"] = 8, confidences
    rows["probabilities_length"], rows["probabilities"] = 8 * classes, probabilities
    rows["latency_length"], rows["latency"] = 8, latencies_ms
    return _HEADER + rows.tobytes() + _TRAILER
