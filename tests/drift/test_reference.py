"""Reference uploads: accepted files are prepared once; bad files are refused with messages naming column and row."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError

from drift.models import DriftSettings, ReferenceDataset
from drift.services import reference_dataset_upload
from drift.statistics import CategoricalReference, NumericReference

HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"


def csv_rows(count: int, row: str = "5.1,3.5,1.4,0.2") -> str:
    return HEADER + "".join(f"{row}\n" for _ in range(count))


@pytest.mark.django_db
def test_accepted_csv_is_prepared_once_with_class_counts(iris_reference: ReferenceDataset) -> None:
    """The iris split is stored with its row count, prepared statistics and the model's class counts."""
    # then
    assert iris_reference.row_count == 105
    numeric = NumericReference.from_bytes(bytes(iris_reference.numeric_reference))
    assert list(numeric.names) == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert numeric.summary(0)["count"] == 105
    assert sum(iris_reference.class_counts.values()) == 105
    assert set(iris_reference.class_counts) == {"setosa", "versicolor", "virginica"}
    assert DriftSettings.objects.filter(model=iris_reference.model_version.model).exists()


@pytest.mark.django_db
def test_a_new_upload_replaces_the_active_reference(iris_version: Any, iris_reference: ReferenceDataset) -> None:
    """Uploading again keeps exactly one active reference per version, the newest."""
    newer = reference_dataset_upload(model_version=iris_version, file=csv_rows(60).encode(), filename="again.csv")
    assert list(ReferenceDataset.objects.filter(is_active=True)) == [newer]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"", ["empty"]),
        (HEADER.encode(), ["no data rows"]),
        (csv_rows(10).encode(), ["10 data rows", "at least 50"]),
        (("sepal_length,sepal_width,petal_length\n" + "1,2,3\n" * 60).encode(), ["Missing columns: petal_width"]),
        ((HEADER.strip() + ",extra\n" + "1,2,3,4,5\n" * 60).encode(), ["Unknown columns: extra"]),
        ((csv_rows(59) + "5.1,abc,1.4,0.2\n").encode(), ["row 60", "'sepal_width'", "'abc' is not a number"]),
        ((csv_rows(59) + "5.1,,1.4,0.2\n").encode(), ["row 60", "'sepal_width'", "not nullable"]),
        ((csv_rows(59) + "5.1,inf,1.4,0.2\n").encode(), ["row 60", "not a finite number"]),
        ((csv_rows(59) + "5.1,3.5\n").encode(), ["row 60", "2 fields"]),
        ((csv_rows(60) + "caf\xe9").encode("latin-1"), ["not UTF-8"]),
        (("sepal_length,sepal_length,petal_length,petal_width\n" + "1,2,3,4\n" * 60).encode(), ["Duplicated"]),
    ],
)
def test_bad_csv_is_refused_with_column_and_row(iris_version: Any, content: bytes, fragments: list[str]) -> None:
    """Each broken file raises ValidationError whose message says what and where; nothing is stored."""
    # when
    with pytest.raises(ValidationError) as caught:
        reference_dataset_upload(model_version=iris_version, file=content, filename="bad.csv")
    # then
    message = " ".join(caught.value.messages)
    for fragment in fragments:
        assert fragment in message
    assert not ReferenceDataset.objects.exists()


@pytest.mark.django_db
def test_unknown_category_is_refused_naming_column_and_row(mixed_version: Any) -> None:
    """A categorical value outside the schema's categories is refused with its row and column."""
    version = mixed_version()
    content = "size,color\n" + "0.5,red\n" * 59 + "0.1,purple\n"
    with pytest.raises(ValidationError) as caught:
        reference_dataset_upload(model_version=version, file=content.encode(), filename="ref.csv")
    message = " ".join(caught.value.messages)
    assert "row 60" in message and "'color'" in message and "'purple'" in message


@pytest.mark.django_db
def test_categorical_reference_counts_categories(mixed_version: Any) -> None:
    """Category counts are prepared from the codes of the schema's categories."""
    version = mixed_version()
    content = "color,size\n" + "red,0.5\n" * 30 + "blue,1.5\n" * 30
    reference = reference_dataset_upload(model_version=version, file=content.encode(), filename="ref.csv")
    categorical = CategoricalReference.from_bytes(bytes(reference.categorical_reference))
    shares = categorical.summary(0)["shares"]
    assert shares["red"] == pytest.approx(0.5) and shares["blue"] == pytest.approx(0.5)
    assert shares.get("green", 0.0) == 0.0


def parquet_bytes(columns: dict[str, list[Any]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


@pytest.mark.django_db
def test_parquet_upload_is_accepted_and_checked(iris_version: Any) -> None:
    """A Parquet file with the schema's columns is accepted; one missing a column is refused."""
    good = {
        name: [1.0 + i % 7 for i in range(60)]
        for name in ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    }
    reference = reference_dataset_upload(model_version=iris_version, file=parquet_bytes(good), filename="ref.parquet")
    assert reference.file_format == "parquet" and reference.row_count == 60
    bad = {k: v for k, v in good.items() if k != "petal_width"}
    with pytest.raises(ValidationError, match="petal_width"):
        reference_dataset_upload(model_version=iris_version, file=parquet_bytes(bad), filename="bad.parquet")
    with pytest.raises(ValidationError, match="Parquet"):
        reference_dataset_upload(model_version=iris_version, file=b"not parquet", filename="bad.parquet")


@pytest.mark.django_db
def test_admin_upload_shows_the_error_and_stores_nothing(admin_client: Any, iris_version: Any) -> None:
    """In the admin, a bad reference file is refused on the form with the row and column; a good one is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("bad.csv", (csv_rows(59) + "5.1,abc,1.4,0.2\n").encode(), content_type="text/csv")
    response = admin_client.post(
        "/admin/drift/referencedataset/add/", {"model_version": iris_version.pk, "name": "r", "file": bad}
    )
    assert response.status_code == 200
    assert "row 60, column &#x27;sepal_width&#x27;" in response.content.decode()
    assert not ReferenceDataset.objects.exists()
    good = SimpleUploadedFile("good.csv", csv_rows(60).encode(), content_type="text/csv")
    response = admin_client.post(
        "/admin/drift/referencedataset/add/", {"model_version": iris_version.pk, "name": "r", "file": good}
    )
    assert response.status_code == 302
    assert ReferenceDataset.objects.get().row_count == 60


@pytest.mark.django_db
def test_a_csv_of_blank_cells_is_refused_not_a_500(iris_version: Any) -> None:
    """A file whose every cell is blank has no header: a ValidationError saying so."""
    with pytest.raises(ValidationError, match="no header row"):
        reference_dataset_upload(model_version=iris_version, file=b" , \n , \n", filename="blank.csv")


@pytest.mark.django_db
def test_whole_column_parsing_matches_cell_by_cell_and_still_refuses_bools(iris_version: Any) -> None:
    """Clean numeric columns are parsed in one numpy call with the same values as float(cell); a column of
    booleans (Parquet) is not read as 0/1 but refused cell by cell."""
    import numpy as np

    from drift.reference import reference_csv_read

    rng = np.random.default_rng(3)
    values = rng.normal(5, 2, size=(80, 4)).round(4)
    text = HEADER + "".join(" " + ", ".join(str(v) for v in row) + "\n" for row in values)
    table = reference_csv_read(data=text.encode(), schema=iris_version.schema, min_rows=50)
    assert np.array_equal(table.log_matrix, values)
    columns = {name: [1.0] * 60 for name in ["sepal_length", "sepal_width", "petal_length"]}
    columns["petal_width"] = [True] * 60
    with pytest.raises(ValidationError, match="'petal_width': True is not a number"):
        reference_dataset_upload(model_version=iris_version, file=parquet_bytes(columns), filename="b.parquet")


def test_reference_rows_are_encoded_as_predictions_are_logged() -> None:
    """A reference CSV row and the same row posted for a prediction give the same logged vector (category codes, NaN
    for a missing value): drift compares like with like."""
    import math

    from drift.reference import reference_csv_read
    from predictions.encoding import RowEncoder
    from predictions.schema import feature_schema_parse

    # given
    schema = feature_schema_parse(
        [
            {"name": "size", "type": "numeric", "nullable": True},
            {"name": "color", "type": "categorical", "categories": ["red", "green", "blue"], "nullable": True},
        ]
    )
    rows = [(2.5, "blue"), (None, "green"), (-1.0, None)]
    text = "color,size\n" + "".join(f"{color or ''},{'' if size is None else size}\n" for size, color in rows)
    # when
    table = reference_csv_read(data=text.encode(), schema=schema, min_rows=1)
    logged = [RowEncoder(schema).encode_row([size, color])[1] for size, color in rows]
    # then
    for from_file, from_request in zip(table.log_matrix.tolist(), logged, strict=True):
        assert [("nan" if math.isnan(v) else v) for v in from_file] == [
            ("nan" if math.isnan(v) else v) for v in from_request
        ]


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_huge_finite_values_upload_with_finite_summaries(iris_version: Any, file_format: str) -> None:
    """Finite values such as 1e200 and -1.5e306 are legal data: the file uploads, its summaries are finite (mean
    and std exact, not an OverflowError), and drift runs can load it."""
    # given
    rows = [[5.1, 3.5, 1.4, 0.2]] * 57 + [[1e200, 3.5, 1.4, 0.2], [5.1, -1.5e306, 1.4, 0.2], [5.1, 3.5, 1e300, 0.2]]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    if file_format == "csv":
        data = (HEADER + "".join(",".join(repr(v) for v in row) + "\n" for row in rows)).encode()
    else:
        data = parquet_bytes({name: [row[j] for row in rows] for j, name in enumerate(names)})
    # when
    reference = reference_dataset_upload(model_version=iris_version, file=data, filename=f"huge.{file_format}")
    # then
    numeric = NumericReference.from_bytes(bytes(reference.numeric_reference))
    sepal_length, sepal_width = numeric.summary(0), numeric.summary(1)
    assert sepal_length["max"] == 1e200 and sepal_length["mean"] == pytest.approx((57 * 5.1 + 5.1 * 2 + 1e200) / 60)
    assert sepal_width["min"] == -1.5e306 and sepal_width["std"] == pytest.approx(1.5e306 * 59**0.5 / 60)
    assert all(value is None or abs(value) < float("inf") for value in numeric.summary(2).values())
    assert sum(reference.class_counts.values()) == 60


@pytest.mark.django_db
def test_rows_the_model_scores_as_nan_are_refused_naming_them(iris_version: Any) -> None:
    """Where the model's probabilities for a reference row are not finite (values it overflows on), the upload is
    refused with the row numbers, as the predict API refuses such a row with a 422; nothing is stored."""
    # given: row 60 makes the iris pipeline's logistic regression overflow to NaN
    content = csv_rows(59) + "5e307,5e307,5e307,5e307\n"
    # when
    with pytest.raises(ValidationError) as caught:
        reference_dataset_upload(model_version=iris_version, file=content.encode(), filename="nan.csv")
    # then
    message = " ".join(caught.value.messages)
    assert "non-finite probabilities for 1 reference rows (rows 60)" in message
    assert not ReferenceDataset.objects.exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(
    admin_client: Any, iris_version: Any, settings: Any
) -> None:
    """REFERENCE_UPLOAD_MAX_BYTES: a larger file is a form error naming the limit, and nothing is stored; the service
    refuses the same bytes; a file within the limit is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    # given
    content = csv_rows(60).encode()
    settings.REFERENCE_UPLOAD_MAX_BYTES = len(content) - 1
    # when
    response = admin_client.post(
        "/admin/drift/referencedataset/add/",
        {"model_version": iris_version.pk, "name": "r", "file": SimpleUploadedFile("big.csv", content)},
    )
    # then
    assert response.status_code == 200
    assert f"the limit is {len(content) - 1:,} bytes" in response.content.decode()
    assert not ReferenceDataset.objects.exists()
    with pytest.raises(ValidationError, match="limit") as caught:
        reference_dataset_upload(model_version=iris_version, file=io.BytesIO(content), filename="big.csv")
    assert caught.value.code == "file_too_large"
    # given: the limit at the file's size
    settings.REFERENCE_UPLOAD_MAX_BYTES = len(content)
    # when
    response = admin_client.post(
        "/admin/drift/referencedataset/add/",
        {"model_version": iris_version.pk, "name": "r", "file": SimpleUploadedFile("ok.csv", content)},
    )
    # then
    assert response.status_code == 302
    assert ReferenceDataset.objects.get().row_count == 60
