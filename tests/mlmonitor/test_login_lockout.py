"""Admin and dashboard logins are locked out after AXES_FAILURE_LIMIT failed attempts (django-axes), per username
and address; the right password is refused while locked; another user is not affected."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-for-tests"


@pytest.fixture
def staff() -> Any:
    model = get_user_model()
    model.objects.create_user(username="other", password=PASSWORD, is_staff=True)
    return model.objects.create_user(username="boss", password=PASSWORD, is_staff=True)


@pytest.mark.parametrize(
    ("path", "logged_in"),
    [("/admin/login/", lambda r: r.status_code == 302), ("/dashboard/login/", lambda r: r.status_code == 302)],
)
def test_repeated_failures_lock_the_login(settings: Any, staff: Any, path: str, logged_in: Any) -> None:
    """Limit 3: two failures show the form again, the third locks (429), the right password is then refused (429);
    another username still logs in."""
    # given
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    # when
    failures = [client.post(path, {"username": "boss", "password": "wrong"}) for _ in range(3)]
    locked = client.post(path, {"username": "boss", "password": PASSWORD})
    other = Client().post(path, {"username": "other", "password": PASSWORD})
    # then
    assert [response.status_code for response in failures] == [200, 200, 429]
    assert locked.status_code == 429
    assert logged_in(other)


def test_below_the_limit_the_right_password_works(settings: Any, staff: Any) -> None:
    """Two failures with limit 3, then the right password: logged in."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": "boss", "password": "wrong"})
    assert client.post("/admin/login/", {"username": "boss", "password": PASSWORD}).status_code == 302
