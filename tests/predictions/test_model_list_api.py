"""GET /api/v1/models: enabled models with their active version, schema and classes, in a fixed number of queries."""

from __future__ import annotations

from typing import Any

import pytest

from demo.iris import IRIS_SCHEMA


@pytest.mark.django_db
def test_models_are_listed_with_their_active_version(api_client: Any, register_iris: Any) -> None:
    """Each enabled model shows its active version's schema and classes and all its version names; disabled models
    and models without an active version are shown accordingly."""
    # given
    register_iris(name="iris", version="1")
    register_iris(name="iris", version="2")
    register_iris(name="idle", version="1", default=False, activate=False)
    off = register_iris(name="off", version="1", default=False)
    off.model.is_enabled = False
    off.model.save()
    # when
    response = api_client.get("/api/v1/models")
    # then
    assert response.status_code == 200
    body = {model["name"]: model for model in response.json()}
    assert set(body) == {"idle", "iris"}
    assert body["idle"]["active_version"] is None
    iris = body["iris"]
    assert iris["is_default"] is True
    assert sorted(iris["versions"]) == ["1", "2"]
    assert iris["active_version"]["version"] == "2"
    assert iris["active_version"]["feature_schema"] == IRIS_SCHEMA
    assert iris["active_version"]["classes"] == ["setosa", "versicolor", "virginica"]


@pytest.mark.django_db
def test_the_model_list_costs_two_queries_however_many_models(
    api_client: Any, register_iris: Any, django_assert_num_queries: Any
) -> None:
    """Listing 5 models with 2 versions each reads the models and their versions in two queries (no N+1)."""
    # given
    for index in range(5):
        register_iris(name=f"m{index}", version="1", default=False)
        register_iris(name=f"m{index}", version="2", default=False)
    # when
    with django_assert_num_queries(2):
        response = api_client.get("/api/v1/models")
    # then
    assert response.status_code == 200
    assert len(response.json()) == 5
