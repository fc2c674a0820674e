"""Reading an uploaded reference table (CSV or Parquet) against a feature schema, with errors naming column and row."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError

from predictions.encoding import MISSING, RowEncoder
from predictions.schema import CATEGORICAL, FeatureSchema

MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class ReferenceTable:
    """A checked reference table: its rows in the prediction-log format (predictions/encoding.py) and the model's
    input."""

    names: list[str]
    log_matrix: np.ndarray  # float64 [n, k], as predictions are logged
    model_input: np.ndarray  # float64 or object [n, k], what the model's predict_proba takes
    labels: np.ndarray | None = None  # int64 [n]: index of each row's true class, when a label column was named

    @property
    def row_count(self) -> int:
        """Number of data rows."""
        return int(self.log_matrix.shape[0])


class _Errors:
    """Collects cell errors and raises them together (the first MAX_REPORTED_ERRORS)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.count = 0

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_REPORTED_ERRORS:
            self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.count:
            more = self.count - len(self.messages)
            raise ValidationError(self.messages + ([f"... and {more} more errors."] if more else []))


def _columns_check(columns: list[str], schema: FeatureSchema) -> None:
    """Refuse missing, unknown and duplicated columns."""
    problems = []
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        problems.append(f"Duplicated columns: {', '.join(duplicates)}.")
    missing = [name for name in schema.names if name not in columns]
    if missing:
        problems.append(f"Missing columns: {', '.join(missing)} (the schema needs {', '.join(schema.names)}).")
    extra = [c for c in columns if c not in schema.names]
    if extra:
        problems.append(f"Unknown columns: {', '.join(extra)} (not in the model's feature schema).")
    if problems:
        raise ValidationError(problems)


_MISSING_TOKENS = frozenset({"", "nan", "NaN", "NA", "null", "None"})


def _numeric_column_fast(rows: list[list[object]], column: int) -> np.ndarray | None:
    """A numeric column parsed in one numpy call when every cell is a finite number (or its text); None otherwise,
    and the cell-by-cell check then names each bad cell. Bools never take this path (numpy would read them as 0/1)."""
    cells = [row[column] for row in rows]
    kinds = {type(cell) for cell in cells}
    if not (kinds <= {str} or kinds <= {int, float}):
        return None
    try:
        values = np.asarray(cells, dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    return values if np.isfinite(values).all() else None


def _labels_encode(
    cells: list[object], *, label_column: str, class_labels: Sequence[str], errors: _Errors
) -> np.ndarray:
    """The class index of each true-label cell; an empty or unknown label is an error naming its row."""
    allowed = [str(label) for label in class_labels]
    index = {label: position for position, label in enumerate(allowed)}
    labels = np.full(len(cells), -1, dtype=np.int64)
    for row, cell in enumerate(cells):
        where = f"row {row + 1}, label column {label_column!r}"
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            text = ""
        elif isinstance(cell, float) and cell.is_integer():
            text = str(int(cell))  # integer classes read back as floats (a Parquet column with nulls)
        else:
            text = str(cell).strip()
        if text in index:  # before the missing tokens: a class may be called "NA"
            labels[row] = index[text]
        elif text in _MISSING_TOKENS:
            errors.add(f"{where}: missing label; every reference row needs its true class.")
        else:
            errors.add(f"{where}: {cell!r} is not a class of the model (classes: {', '.join(allowed)}).")
    return labels


def _label_column_check(columns: list[str], schema: FeatureSchema, label_column: str | None) -> list[str]:
    """The file's columns without the label column; ValidationError when the named label column is absent or is a
    feature."""
    if label_column is None:
        return columns
    if label_column in schema.names:
        raise ValidationError(
            f"The label column {label_column!r} is a feature of the model; name the true-label column."
        )
    if label_column not in columns:
        raise ValidationError(f"The label column {label_column!r} is not in the file (columns: {', '.join(columns)}).")
    return [column for column in columns if column != label_column]


def _cells_encode(
    rows: list[list[object]],
    schema: FeatureSchema,
    *,
    min_rows: int,
    label_cells: list[object] | None = None,
    label_column: str = "",
    class_labels: Sequence[str] = (),
) -> ReferenceTable:
    """Check every cell (rows in schema column order, true labels apart) and build the encodings."""
    if not rows:
        raise ValidationError("The file has no data rows.")
    if len(rows) < min_rows:
        raise ValidationError(f"The file has {len(rows)} data rows; a reference needs at least {min_rows}.")
    errors = _Errors()
    encoder = RowEncoder(schema)
    width = len(schema.features)
    log_matrix = np.full((len(rows), width), MISSING, dtype=np.float64)
    model_input = log_matrix if schema.is_all_numeric else np.empty((len(rows), width), dtype=object)
    for column, feature in enumerate(schema.features):
        if feature.kind != CATEGORICAL:
            values = _numeric_column_fast(rows, column)
            if values is not None:
                log_matrix[:, column] = values
                if model_input is not log_matrix:
                    model_input[:, column] = values
                continue
        for index, row in enumerate(rows):
            cell = row[column]
            where = f"row {index + 1}, column {feature.name!r}"
            missing = (
                cell is None
                or (isinstance(cell, str) and cell.strip() in _MISSING_TOKENS)
                or (isinstance(cell, float) and math.isnan(cell))
            )
            if missing:
                if not feature.nullable:
                    errors.add(f"{where}: missing value, but the feature is not nullable.")
                elif model_input is not log_matrix:
                    model_input[index, column] = None
                continue
            if feature.kind == CATEGORICAL:
                value = cell.strip() if isinstance(cell, str) else None
                code = encoder.category_code(column, value) if value is not None else None
                if code is None:
                    errors.add(f"{where}: unknown category {cell!r} (allowed: {', '.join(feature.categories)}).")
                    continue
                log_matrix[index, column] = code
                model_input[index, column] = value
                continue
            try:
                if isinstance(cell, bool):
                    raise ValueError
                number = float(cell.strip()) if isinstance(cell, str) else float(cell)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                errors.add(f"{where}: {cell!r} is not a number.")
                continue
            if math.isinf(number) or math.isnan(number):
                errors.add(f"{where}: {cell!r} is not a finite number.")
                continue
            log_matrix[index, column] = number
            if model_input is not log_matrix:
                model_input[index, column] = number
    labels = (
        None
        if label_cells is None
        else _labels_encode(label_cells, label_column=label_column, class_labels=class_labels, errors=errors)
    )
    errors.raise_if_any()
    return ReferenceTable(names=schema.names, log_matrix=log_matrix, model_input=model_input, labels=labels)


def reference_csv_read(
    *,
    data: bytes,
    schema: FeatureSchema,
    min_rows: int,
    label_column: str | None = None,
    class_labels: Sequence[str] = (),
) -> ReferenceTable:
    """Parse a UTF-8 CSV with a header row of feature names (any order), plus the true-label column when one is
    named (its values must be among class_labels)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"The file is not UTF-8 text (invalid byte at position {exc.start}); save it as UTF-8 CSV."
        ) from exc
    if not text.strip():
        raise ValidationError("The file is empty.")
    try:
        lines = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ValidationError(f"The file is not valid CSV: {exc}") from exc
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if not lines:
        raise ValidationError("The file has no header row: only blank cells.")
    header = [cell.strip() for cell in lines[0]]
    _columns_check(_label_column_check(header, schema, label_column), schema)
    order = [header.index(name) for name in schema.names]
    label_position = header.index(label_column) if label_column is not None else None
    rows: list[list[object]] = []
    label_cells: list[object] = []
    for number, line in enumerate(lines[1:], start=1):
        if len(line) != len(header):
            raise ValidationError(f"row {number}: {len(line)} fields, but the header has {len(header)} columns.")
        rows.append([line[i] for i in order])
        if label_position is not None:
            label_cells.append(line[label_position])
    return _cells_encode(
        rows,
        schema,
        min_rows=min_rows,
        label_cells=label_cells if label_column is not None else None,
        label_column=label_column or "",
        class_labels=class_labels,
    )


def reference_parquet_read(
    *,
    data: bytes,
    schema: FeatureSchema,
    min_rows: int,
    label_column: str | None = None,
    class_labels: Sequence[str] = (),
) -> ReferenceTable:
    """Parse a Parquet file whose columns are the feature names (plus the true-label column when one is named)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ValidationError(f"The file is not a readable Parquet file: {exc}") from exc
    _columns_check(_label_column_check([str(c) for c in table.column_names], schema, label_column), schema)
    columns = [table.column(name).to_pylist() for name in schema.names]
    rows = [list(values) for values in zip(*columns, strict=True)] if columns else []
    return _cells_encode(
        rows,
        schema,
        min_rows=min_rows,
        label_cells=table.column(label_column).to_pylist() if label_column is not None else None,
        label_column=label_column or "",
        class_labels=class_labels,
    )
