"""Admin pieces the apps share."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect

_M = TypeVar("_M", bound=Model)


class ShownFlagsForm(forms.ModelForm[_M]):
    """A change form whose `shown_flags` (fields such as "is default" or "is active" that other admins' actions also
    change) count as changed only against the value the page showed, sent back in a hidden input (Django's
    `show_hidden_initial`), not against the row as it is at save time. A page opened before another admin made a
    model the default, or a reference active, then saves its other edits without undoing that change: the save
    services write only the fields in `changed_data`. The boxes are rendered with autocomplete="off": a browser that
    goes Back to a page refetches it (the admin's pages are not cached) but puts a box back as the user left it,
    beside the fresh hidden value, and the save then undid the other admin's change (seen with Chromium)."""

    shown_flags: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.shown_flags:
            if name in self.fields:
                self.fields[name].show_hidden_initial = True
                self.fields[name].widget.attrs["autocomplete"] = "off"


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
        """The add/change page without the outer transaction. Where the service refuses a save the form passed (a
        ValidationError from save_model: a concurrent save took the version number first), the page is shown again
        with the refusal as the form's errors, instead of a 500."""
        try:
            response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]  # Django's own body
                request, object_id, form_url, extra_context
            )
        except ValidationError as refusal:
            if request.method != "POST":
                raise
            request._save_refusal = refusal  # type: ignore[attr-defined]  # read by get_form on the second pass
            response = self._changeform_view(  # type: ignore[attr-defined]
                request, object_id, form_url, extra_context
            )
        return response

    def get_form(
        self, request: HttpRequest, obj: _M | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[_M]]:
        """The form, which on the second pass after a refused save carries the refusal among its errors."""
        form_class = super().get_form(request, obj, change, **kwargs)
        refusal: ValidationError | None = getattr(request, "_save_refusal", None)
        if refusal is None:
            return form_class
        error: ValidationError = refusal

        class RefusedForm(form_class):  # type: ignore[valid-type,misc]  # a class made at runtime
            def _post_clean(self) -> None:
                """After the form's own checks (model validation included, which may now find what the save
                found): the refusal, unless those checks already refuse the form."""
                super()._post_clean()
                if self._errors:
                    return
                if hasattr(error, "error_dict"):
                    for field, errors in error.message_dict.items():
                        self.add_error(field if field in self.fields else None, errors)
                else:
                    self.add_error(None, error.messages)

        return RefusedForm
