"""Admin for the model registry: upload artifacts (checked on save), pick active versions and the default model."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from mlmonitor.admin import ChecksOutsideTransactionAdmin, ShownFlagsForm
from mlmonitor.files import upload_read

from . import services
from .models import MLModel, ModelVersion, Prediction

# What the artifact check depends on: a change to any of these is checked again.
ARTIFACT_CHECK_FIELDS = frozenset({"artifact", "feature_schema", "class_labels"})


class ModelVersionForm(ShownFlagsForm[ModelVersion]):
    """Shows on the form why the service would refuse a version: services.artifact_check (skops' trusted-type check,
    schema and classes). The service checks again on save; that check reuses this one's outcome, not a new load.
    "is active" counts as changed against what the page showed (ShownFlagsForm)."""

    shown_flags = ("is_active",)

    class Meta:
        model = ModelVersion
        fields = ["model", "version", "artifact", "framework", "feature_schema", "class_labels", "is_active"]

    def _get_validation_exclusions(self) -> set[str]:
        """Leave the one-active-version constraint to the save service, which deactivates the other versions."""
        # Django's hook for the fields model validation skips; django-stubs does not declare it.
        return {*super()._get_validation_exclusions(), "is_active"}  # type: ignore[misc]

    def clean(self) -> dict[str, Any]:
        """Check a new or changed artifact, schema or labels with the service's check; errors go to their field."""
        super().clean()
        cleaned = self.cleaned_data
        upload = cleaned.get("artifact")
        if upload is None or self.errors:
            return cleaned
        if ARTIFACT_CHECK_FIELDS & set(self.changed_data):
            try:
                data = upload_read(upload)
                services.artifact_check(
                    data=data, feature_schema=cleaned.get("feature_schema"), class_labels=cleaned.get("class_labels")
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
            except OSError as exc:
                self.add_error("artifact", f"The artifact could not be read: {exc}")
        return cleaned


@admin.register(ModelVersion)
class ModelVersionAdmin(ChecksOutsideTransactionAdmin[ModelVersion]):
    """Model versions; saving goes through services.model_version_save_checked."""

    form = ModelVersionForm
    list_display = ["model", "version", "framework", "is_active", "memory_bytes", "created_at"]
    list_filter = ["model", "is_active", "framework"]
    readonly_fields = ["artifact_sha256", "memory_bytes", "created_at"]
    actions = ["activate"]

    def save_model(self, request: HttpRequest, obj: ModelVersion, form: ModelVersionForm, change: bool) -> None:
        """Save through the service, which checks what the form checked (that check is remembered, not rerun)."""
        recheck = not change or bool(ARTIFACT_CHECK_FIELDS & set(form.changed_data))
        data = upload_read(form.cleaned_data["artifact"]) if recheck else None
        services.model_version_save_checked(model_version=obj, data=data, fields=form.changed_data if change else None)
        if "is_active" in form.changed_data and not obj.model.versions.filter(is_active=True).exists():
            self.message_user(
                request,
                f"{obj.model.name} has no active version now: its predictions answer 409 until one is made active.",
                messages.WARNING,
            )

    @admin.action(description="Make the selected version active for its model")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        """Make each selected version its model's active one; with two versions of one model selected, say so and
        change nothing (a model has one active version)."""
        versions = list(queryset)
        if len({version.model_id for version in versions}) < len(versions):
            self.message_user(request, "Select one version per model: a model has one active version.", messages.ERROR)
            return
        for version in versions:
            services.model_version_activate(model_version=version)
        self.message_user(request, f"Activated {len(versions)} version(s).", messages.SUCCESS)


class ModelVersionInline(admin.TabularInline[ModelVersion, MLModel]):
    """Versions listed on the model page (edited on their own page, where the artifact is checked)."""

    model = ModelVersion
    fields = ("version", "framework", "is_active", "created_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: MLModel | None = None) -> bool:
        return False


class MLModelForm(ShownFlagsForm[MLModel]):
    """A model's fields; ticking "is default" makes it the default, whichever model had it (services.model_save)."""

    shown_flags = ("is_default",)

    class Meta:
        model = MLModel
        fields = ["name", "description", "is_default", "is_enabled"]

    def _get_validation_exclusions(self) -> set[str]:
        """Leave the one-default-model constraint to the save service, which takes the default from the other model."""
        # Django's hook for the fields model validation skips; django-stubs does not declare it.
        return {*super()._get_validation_exclusions(), "is_default"}  # type: ignore[misc]


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin[MLModel]):
    """Models: default, enabled, their versions."""

    form = MLModelForm
    list_display = ["name", "is_default", "is_enabled", "active_version", "updated_at"]
    list_filter = ["is_default", "is_enabled"]
    search_fields = ["name"]
    inlines = [ModelVersionInline]
    actions = ["make_default"]

    @admin.display(description="active version")
    def active_version(self, obj: MLModel) -> str:
        version = obj.versions.filter(is_active=True).first()
        return version.version if version else "-"

    def save_model(self, request: HttpRequest, obj: MLModel, form: forms.ModelForm[MLModel], change: bool) -> None:
        """Save through the service, which (for a model saved as the default) locks every model's row before this
        row's update, inside the admin's transaction, and takes the default from the model that had it."""
        services.model_save(model=obj, fields=form.changed_data if change else None)
        if "is_default" in form.changed_data and not MLModel.objects.filter(is_default=True).exists():
            self.message_user(
                request, "No model is the default now: /predict and /drift answer 404 until one is.", messages.WARNING
            )

    @admin.action(description="Make the selected model the default")
    def make_default(self, request: HttpRequest, queryset: QuerySet[MLModel]) -> None:
        """Make the one selected model the default; with several selected, say so and change nothing (there is one
        default model)."""
        models = list(queryset[:2])
        if len(models) > 1:
            self.message_user(request, "Select one model: there is only one default model.", messages.ERROR)
            return
        if models:
            services.model_set_default(model=models[0])
            self.message_user(request, f"{models[0]} is now the default model.", messages.SUCCESS)


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin[Prediction]):
    """The prediction log, read-only."""

    list_display = ["id", "created_at", "model_version", "predicted_label", "confidence", "true_label", "latency_ms"]
    list_filter = ["model_version"]
    show_full_result_count = False
    list_select_related = ["model_version__model"]
    readonly_fields = (
        "id",
        "created_at",
        "model_version",
        "feature_values",
        "predicted_label",
        "confidence",
        "probability_map",
        "latency_ms",
        "true_label",
        "labelled_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Prediction | None = None) -> bool:
        return False
