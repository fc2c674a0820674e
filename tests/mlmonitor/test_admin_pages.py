"""The admin as an operator meets it: errors are HTML pages (the JSON error shape is the API's), and the links the
admin shows ("View site", an artifact's or a reference file's "Currently:" link) lead to pages that answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client, RequestFactory

from mlmonitor import errors
from predictions.models import ModelVersion


@pytest.mark.django_db
def test_an_unknown_admin_page_is_an_html_404(admin_client: Client) -> None:
    """A missing admin object or path answers 404 as an HTML page, not `{"error": ...}`."""
    # when
    response = admin_client.get("/admin/no-such-app/")
    # then
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b'"error"' not in response.content


@pytest.mark.django_db
def test_api_paths_keep_the_json_error_shape(client: Client) -> None:
    """An unknown API path (and the seed's paths) still answer the JSON error shape."""
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "json_expected"),
    [("/admin/x/", False), ("/dashboard/x/", False), ("/api/v1/x", True), ("/predict", True), ("/nowhere", True)],
)
@pytest.mark.parametrize("handler", ["handler400", "handler403", "handler404", "handler500"])
def test_error_handlers_answer_html_outside_the_api(handler: str, path: str, json_expected: bool) -> None:
    """Django's error handlers: an HTML page for the admin and dashboard; JSON for the API, the seed's paths and any
    other path."""
    # given
    request = RequestFactory().get(path)
    # when
    view = getattr(errors, handler)
    response = view(request) if handler == "handler500" else view(request, Exception("x"))
    # then
    assert response["Content-Type"].startswith("application/json" if json_expected else "text/html")


@pytest.mark.django_db
def test_the_view_site_link_leads_to_a_working_page(admin_client: Client) -> None:
    """The admin's "View site" link answers 200 for the staff user who clicked it."""
    # given
    page = admin_client.get("/admin/").content.decode()
    link = re.search(r'<a href="([^"]+)">View site</a>', page)
    assert link is not None, page[:3000]
    # when
    response = admin_client.get(link.group(1), follow=True)
    # then
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_artifact_link_on_a_model_version_downloads_it(admin_client: Client, iris_version: ModelVersion) -> None:
    """The "Currently: ..." link of a version's artifact downloads the artifact's bytes."""
    # given
    page = admin_client.get(f"/admin/predictions/modelversion/{iris_version.pk}/change/").content.decode()
    link = re.search(r'Currently: <a href="([^"]+)"', page)
    assert link is not None, page[:3000]
    # when
    response = admin_client.get(link.group(1))
    # then
    assert response.status_code == 200
    iris_version.artifact.open("rb")
    try:
        assert b"".join(response.streaming_content) == iris_version.artifact.read()  # type: ignore[attr-defined]
    finally:
        iris_version.artifact.close()


@pytest.mark.django_db
def test_uploaded_files_are_not_served_to_anonymous_users(client: Client, iris_version: ModelVersion) -> None:
    """The download needs a staff login (artifacts and reference data are not public)."""
    response = client.get("/" + "media/" + iris_version.artifact.name)
    assert response.status_code in (302, 403)
    assert b"skops" not in response.content


@pytest.mark.django_db
def test_the_file_link_does_not_escape_the_media_root(admin_client: Client, settings: Any) -> None:
    """A path that climbs out of MEDIA_ROOT is refused."""
    response = admin_client.get("/media/../../etc/passwd")
    assert response.status_code == 404
