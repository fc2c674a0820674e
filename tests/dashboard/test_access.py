"""Who sees the dashboard: staff, or the read-only view permission; anonymous visitors are sent to its login; the
root URL and the admin lead there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

PAGES = [
    "/dashboard/",
    "/dashboard/models/iris/",
    "/dashboard/models/iris/drift/",
    "/dashboard/drift-runs/1/",
    "/dashboard/alerts/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client, path: str) -> None:
    """Every page redirects an anonymous visitor to /dashboard/login/ with the page as `next`."""
    # when
    response = client.get(path)
    # then
    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/login/?next={path}"


@pytest.mark.parametrize("path", PAGES)
def test_a_user_without_the_permission_gets_a_403_page(make_user: Callable[..., Any], path: str) -> None:
    """A logged-in user who is neither staff nor holds dashboard.view_dashboard gets the HTML no-access page."""
    # given
    client = Client()
    client.force_login(make_user())
    # when
    response = client.get(path)
    # then
    assert response.status_code == 403
    assert "No access to the dashboard" in response.content.decode()


@pytest.mark.parametrize(("staff", "permission"), [(True, False), (False, True)])
def test_staff_or_the_view_permission_see_the_pages(
    make_user: Callable[..., Any], register_iris: Callable[..., Any], staff: bool, permission: bool
) -> None:
    """Staff users and users holding the read-only permission get 200 on the overview, a model page and alerts."""
    # given
    register_iris()
    client = Client()
    client.force_login(make_user(staff=staff, permission=permission))
    # then
    for path in ("/dashboard/", "/dashboard/models/iris/", "/dashboard/alerts/"):
        assert client.get(path).status_code == 200, path


def test_pages_answer_only_get(staff_client: Client) -> None:
    """The pages are read-only: POST is 405."""
    assert staff_client.post("/dashboard/").status_code == 405


def test_a_user_with_the_permission_logs_in_through_the_dashboard_form(make_user: Callable[..., Any]) -> None:
    """The dashboard's login form accepts a non-staff user with the permission (the admin's would not) and sends
    them to `next`."""
    # given
    user = make_user(permission=True, password="s3cret-for-tests")
    client = Client()
    # when
    response = client.post(
        "/dashboard/login/", {"username": user.username, "password": "s3cret-for-tests", "next": "/dashboard/alerts/"}
    )
    # then
    assert response.status_code == 302 and response["Location"] == "/dashboard/alerts/"
    assert client.get("/dashboard/alerts/").status_code == 200


def test_logout_is_a_post_that_returns_to_the_login_page(staff_client: Client) -> None:
    """POST /dashboard/logout/ ends the session."""
    # when
    response = staff_client.post("/dashboard/logout/")
    # then
    assert response.status_code == 302 and response["Location"] == "/dashboard/login/"
    assert staff_client.get("/dashboard/").status_code == 302


@pytest.mark.django_db
def test_the_root_url_leads_to_the_dashboard(client: Client) -> None:
    """/ redirects to /dashboard/ (which sends anonymous visitors on to the login)."""
    # when
    response = client.get("/")
    # then
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_the_admin_links_to_the_dashboard(make_user: Callable[..., Any]) -> None:
    """The admin's "View site" link points at the dashboard."""
    # given
    client = Client()
    client.force_login(make_user(staff=True))
    # when
    page = client.get("/admin/").content.decode()
    # then
    assert 'href="/dashboard/"' in page


def test_plotly_is_served_by_the_app_itself(staff_client: Client, register_iris: Callable[..., Any]) -> None:
    """The chart pages load plotly.min.js from the app's static files (no CDN), and the finder publishes only that
    file of the plotly package."""
    from django.contrib.staticfiles import finders

    from dashboard.staticfiles import PlotlyBundleFinder

    # given
    register_iris()
    # when
    page = staff_client.get("/dashboard/models/iris/").content.decode()
    found = finders.find("plotly/plotly.min.js")
    # then
    assert '<script defer src="/static/plotly/plotly.min.js"></script>' in page
    assert "cdn" not in page.lower()
    assert found and Path(found).read_bytes()[:200].startswith(b"/**\n* plotly.js v")
    assert [path for path, _ in PlotlyBundleFinder().list(None)] == ["plotly.min.js"]
