"""The OpenAPI schema matches the API: schemathesis generates requests from /api/schema/ (valid and invalid ones)
and sends them to the WSGI application, with and without a token, against a registered model; every answer must be
documented (status, content type, body schema), no 5xx, and requests the schema forbids must be refused.

Bounded: MAX_EXAMPLES cases per operation (about 20 s in all). Not run: `positive_data_acceptance` (a schema-valid
row can still be refused with 400: whether a row fits a model's features depends on the model, which one schema for
every model cannot say) and the stateful phase."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mlmonitor.wsgi import application

MAX_EXAMPLES = 8

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# A generated body over DATA_UPLOAD_MAX_MEMORY_SIZE (a batch far past maxItems, of 10 MB) is refused before it is
# parsed, with 413 body_too_large: a refusal too, which schemathesis' default list leaves out.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")


pytestmark = pytest.mark.usefixtures("wsgi_test_connection_kept")


@pytest.fixture
def token(db: None) -> str:
    """A valid API token."""
    user = get_user_model().objects.create_user(username="schemathesis", password="x-not-used")
    return Token.objects.create(user=user).key


@pytest.mark.django_db
@pytest.mark.parametrize("authenticated", [False, True], ids=["no-token", "token"])
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented(case: Any, authenticated: bool, token: str, iris_version: Any) -> None:
    """Each generated case: the answer conforms to the schema (schemathesis' default checks)."""
    headers = {"Authorization": f"Bearer {token}"} if authenticated else {}
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/v1/models", "GET", None),
        ("/api/v1/models/{name}/predict", "POST", {"features": [5.1, 3.5, 1.4, 0.2]}),
        ("/api/v1/models/{name}/predict", "POST", {"instances": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]}),
        ("/api/v1/models/{name}/drift", "GET", None),
        ("/api/v1/models/{name}/drift/history", "GET", None),
    ],
)
def test_answers_about_a_real_model_match_the_schema(
    path: str, method: str, body: Any, iris_version: Any, token: str
) -> None:
    """Generated names are rarely a registered model: these cases ask about `iris`, which has a reference and a
    drift run, so the 200 bodies (a paginated history, a scored batch) are checked against the schema too."""
    from demo.iris import iris_reference_csv
    from drift.services import drift_run_compute, reference_dataset_upload
    from tests.conftest import iris_demo

    # given
    reference_dataset_upload(
        model_version=iris_version, file=iris_reference_csv(iris_demo().x_train), filename="iris-train.csv"
    )
    drift_run_compute(model_id=iris_version.model_id)
    operation = schema[path][method]
    kwargs: dict[str, Any] = {"path_parameters": {"name": "iris"}} if "{name}" in path else {}
    if body is not None:
        kwargs.update(body=body, media_type="application/json")
    case = operation.Case(**kwargs)
    # when
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    # then
    assert response.status_code == 200, response.text
