"""The dashboard's pages: each view parses the query string, calls one selector and renders a template."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from mlmonitor.errors import ApplicationError

from .access import dashboard_access_required
from .prometheus import RANGES
from .selectors import (
    alerts_page_get,
    drift_report_get,
    model_page_get,
    overview_get,
    page_number_parse,
)


def dashboard_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET/HEAD only, login and permission checked, and an ApplicationError shown as an error page with its status."""

    @require_safe
    @dashboard_access_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return render(request, "dashboard/error.html", {"error": exc}, status=exc.status)

    return wrapper


def _text(request: HttpRequest, name: str) -> str:
    return request.GET.get(name, "").strip()[:200]


@dashboard_page
def overview(request: HttpRequest) -> HttpResponse:
    """GET /dashboard/: every model over the chosen range."""
    page = overview_get(
        range_key=request.GET.get("range"),
        query=_text(request, "q"),
        sort=request.GET.get("sort", "name"),
        direction=request.GET.get("dir", "asc"),
        page=page_number_parse(request.GET.get("page")),
    )
    return render(request, "dashboard/overview.html", {"view": page, "ranges": RANGES, "nav": "models"})


@dashboard_page
def model_detail(request: HttpRequest, name: str) -> HttpResponse:
    """GET /dashboard/models/{name}/: one model's charts."""
    page = model_page_get(
        name=name,
        range_key=request.GET.get("range"),
        feature_query=_text(request, "q"),
        page=page_number_parse(request.GET.get("page")),
    )
    return render(request, "dashboard/model.html", {"view": page, "ranges": RANGES, "nav": "models"})


@dashboard_page
def model_drift(request: HttpRequest, name: str) -> HttpResponse:
    """GET /dashboard/models/{name}/drift/: the latest drift run's report."""
    report = drift_report_get(
        model_name=name, query=_text(request, "q"), page=page_number_parse(request.GET.get("page"))
    )
    return render(request, "dashboard/drift_report.html", {"view": report, "nav": "models"})


@dashboard_page
def drift_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """GET /dashboard/drift-runs/{id}/: any persisted run's report."""
    report = drift_report_get(run_id=run_id, query=_text(request, "q"), page=page_number_parse(request.GET.get("page")))
    return render(request, "dashboard/drift_report.html", {"view": report, "nav": "models"})


@dashboard_page
def alerts(request: HttpRequest) -> HttpResponse:
    """GET /dashboard/alerts/: firing now and the recorded history."""
    page = alerts_page_get(
        status=request.GET.get("status", ""),
        model_name=_text(request, "model"),
        page=page_number_parse(request.GET.get("page")),
    )
    return render(request, "dashboard/alerts.html", {"view": page, "nav": "alerts"})


class DashboardLoginView(LoginView):
    """The dashboard's own login (the admin's refuses users who are not staff)."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True
    next_page = "dashboard:overview"  # a URL name: resolve_url() reverses it


class DashboardLogoutView(LogoutView):
    """Log out (POST) and return to the login page."""

    next_page = "dashboard:login"
