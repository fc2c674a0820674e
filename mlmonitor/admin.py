"""Admin pieces the apps share."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect

_M = TypeVar("_M", bound=Model)


class ChecksOutsideTransactionAdmin(admin.ModelAdmin[_M]):
    """A ModelAdmin whose add and change forms validate outside a database transaction.

    Django's admin wraps a whole POST (form validation included) in one transaction. Where validation runs an external
    tool (promtool, amtool), parses an upload (a reference dataset) or loads a model artifact, that transaction holds
    SQLite's write lock for the whole of it, and every prediction waits; in a deferred transaction that read first,
    the write then fails at once with "database is locked" when another connection writes (Django docs, "SQLite
    notes"). Here the form validates first, with no transaction, and the save goes through the app's service, which
    does its slow work first and then opens its own short transaction (and publishes after its commit).
    Use it only where save_model saves one row through a service (no inlines, no many-to-many fields)."""

    @method_decorator(csrf_protect)
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The add/change page without the outer transaction."""
        response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]  # Django's own body
            request, object_id, form_url, extra_context
        )
        return response
