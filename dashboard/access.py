"""Who may see the dashboard: staff users, and users (or groups) given the read-only `dashboard.view_dashboard`
permission in the admin. Anonymous visitors go to the dashboard's login page; others get a 403 page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from .models import VIEW_PERMISSION


def user_can_view_dashboard(user: Any) -> bool:
    """Active staff users, or active users holding the view permission (superusers hold every permission)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.has_perm(VIEW_PERMISSION)))


def dashboard_access_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login redirect for anonymous visitors, a 403 page for users without access."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("dashboard:login"))
        if not user_can_view_dashboard(request.user):
            return render(request, "dashboard/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
