"""Admin for reference datasets (checked on upload), drift settings per model, and drift run history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from mlmonitor.files import upload_read

from . import services
from .models import DriftJobStats, DriftRun, DriftSettings, FeatureDriftResult, FeatureTest, ReferenceDataset


class ReferenceDatasetForm(forms.ModelForm[ReferenceDataset]):
    """Upload form: the file is parsed against the version's schema; errors name column and row."""

    file_format = forms.ChoiceField(
        choices=[("", "from the file name"), ("csv", "CSV"), ("parquet", "Parquet")], required=False
    )
    label_column = forms.CharField(
        max_length=200,
        required=False,
        help_text="Optional: the column holding each row's true class (one of the version's class labels). With "
        "it, accuracy and F1 are estimated for every drift window before labels arrive.",
    )

    class Meta:
        model = ReferenceDataset
        fields = ["model_version", "name", "file"]

    def clean(self) -> dict[str, Any]:
        """Parse the upload against the version's schema; its errors (column and row) go to the file field."""
        super().clean()
        cleaned = self.cleaned_data
        upload, version = cleaned.get("file"), cleaned.get("model_version")
        if upload is None or version is None or self.errors:
            return cleaned
        file_format = cleaned.get("file_format") or services.reference_format_guess(upload.name)
        try:
            services.reference_table_read(
                data=upload_read(upload),
                file_format=file_format,
                model_version=version,
                label_column=cleaned.get("label_column") or None,
            )
        except ValidationError as exc:
            self.add_error("file", exc)
        cleaned["file_format"] = file_format
        return cleaned


@admin.register(ReferenceDataset)
class ReferenceDatasetAdmin(admin.ModelAdmin[ReferenceDataset]):
    """Reference datasets; adding one goes through services.reference_dataset_upload."""

    form = ReferenceDatasetForm
    list_display = ["name", "model_version", "file_format", "row_count", "label_column", "is_active", "uploaded_at"]
    list_filter = ["model_version__model", "is_active"]
    readonly_fields = ["row_count", "file_format", "label_column", "class_counts", "uploaded_at"]

    def get_form(
        self, request: HttpRequest, obj: ReferenceDataset | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[ReferenceDataset]]:
        if obj is not None:  # an uploaded reference is immutable: upload a new one instead
            kwargs["fields"] = ["name", "is_active"]
            return forms.modelform_factory(ReferenceDataset, fields=["name", "is_active"])
        return super().get_form(request, obj, change, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: ReferenceDataset, form: forms.ModelForm[ReferenceDataset], change: bool
    ) -> None:
        if change:
            obj.save()
            return
        upload = form.cleaned_data["file"]
        saved = services.reference_dataset_upload(
            model_version=form.cleaned_data["model_version"],
            file=upload,
            filename=upload.name,
            name=form.cleaned_data.get("name") or upload.name,
            file_format=form.cleaned_data.get("file_format"),
            label_column=form.cleaned_data.get("label_column") or None,
        )
        obj.pk = saved.pk
        obj.__dict__.update(saved.__dict__)


class FeatureTestInline(admin.TabularInline[FeatureTest, DriftSettings]):
    """Per-feature test choice (thresholds live in Alerting > Thresholds: one number for the flag and the alert)."""

    model = FeatureTest
    extra = 0


@admin.register(DriftSettings)
class DriftSettingsAdmin(admin.ModelAdmin[DriftSettings]):
    """Window, minimum samples and decision rule per model."""

    list_display = [
        "model",
        "enabled",
        "window_size",
        "window_span",
        "min_samples",
        "alpha",
        "correction",
        "use_threshold",
        "use_p_value",
    ]
    inlines = [FeatureTestInline]


class FeatureDriftResultInline(admin.TabularInline[FeatureDriftResult, DriftRun]):
    """Feature results of a run."""

    model = FeatureDriftResult
    fields = (
        "feature_name",
        "test",
        "status",
        "score",
        "p_value",
        "p_value_corrected",
        "threshold",
        "drifted",
        "missing_share",
        "out_of_range_share",
        "unseen_category_share",
        "window_size",
        "message",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: DriftRun | None = None) -> bool:
        return False


@admin.register(DriftRun)
class DriftRunAdmin(admin.ModelAdmin[DriftRun]):
    """Drift history, read-only."""

    list_display = [
        "model",
        "model_version",
        "computed_at",
        "status",
        "window_size",
        "drifted_count",
        "dataset_drift",
        "prediction_score",
        "estimated_accuracy",
        "estimated_f1",
        "label_coverage",
        "duration_seconds",
    ]
    list_filter = ["model", "status", "dataset_drift"]
    inlines = [FeatureDriftResultInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DriftRun | None = None) -> bool:
        return False


@admin.register(DriftJobStats)
class DriftJobStatsAdmin(admin.ModelAdmin[DriftJobStats]):
    """Running totals of drift jobs."""

    list_display = ["model", "runs", "failures", "feature_failures", "duration_sum"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DriftJobStats | None = None) -> bool:
        return False
