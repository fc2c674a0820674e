"""Admin for reference datasets (checked on upload), drift settings per model, and drift run history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from mlmonitor.formatting import (
    NO_VALUE,
    distribution_format,
    number_format,
    p_value_format,
    percent_format,
    summary_format,
)

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
                data=services.reference_upload_read(upload),
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
    """Feature results of a run, drifted features first and marked; numbers rounded for reading (the API and the
    visual report carry the stored values)."""

    model = FeatureDriftResult
    fields = (
        "feature_name",
        "drifted_mark",
        "test",
        "status",
        "score_shown",
        "threshold_shown",
        "p_value_shown",
        "p_value_corrected_shown",
        "shares_shown",
        "reference_summary_shown",
        "current_summary_shown",
        "message",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[FeatureDriftResult]:
        """Drifted features first, then by name."""
        return super().get_queryset(request).order_by("-drifted", "feature_name")

    def has_add_permission(self, request: HttpRequest, obj: DriftRun | None = None) -> bool:
        return False

    @admin.display(description="drifted")
    def drifted_mark(self, obj: FeatureDriftResult) -> str:
        """ "DRIFTED" in bold red for a drifted feature, "no" otherwise."""
        if obj.drifted:
            return format_html('<strong class="drifted" style="color: var(--error-fg, #ba2121)">{}</strong>', "DRIFTED")
        return "no"

    @admin.display(description="score")
    def score_shown(self, obj: FeatureDriftResult) -> str:
        return number_format(obj.score)

    @admin.display(description="threshold")
    def threshold_shown(self, obj: FeatureDriftResult) -> str:
        return number_format(obj.threshold)

    @admin.display(description="p-value")
    def p_value_shown(self, obj: FeatureDriftResult) -> str:
        return p_value_format(obj.p_value)

    @admin.display(description="p-value (corrected)")
    def p_value_corrected_shown(self, obj: FeatureDriftResult) -> str:
        return p_value_format(obj.p_value_corrected)

    @admin.display(description="missing / out of range / unseen")
    def shares_shown(self, obj: FeatureDriftResult) -> str:
        return " / ".join(
            percent_format(share) for share in (obj.missing_share, obj.out_of_range_share, obj.unseen_category_share)
        )

    @admin.display(description="reference")
    def reference_summary_shown(self, obj: FeatureDriftResult) -> str:
        return summary_format(obj.reference_summary)

    @admin.display(description="current window")
    def current_summary_shown(self, obj: FeatureDriftResult) -> str:
        return summary_format(obj.current_summary)


DRIFTED_PREFETCH = "drifted_results"
RUN_FIELDS = (
    "report_link",
    "model",
    "model_version",
    "reference",
    "status",
    "message",
    "computed_at",
    "duration_shown",
    "window_size",
    "feature_count",
    "drifted_features",
    "failed_count",
    "dataset_drift",
    "prediction_status",
    "prediction_score_shown",
    "prediction_p_value_shown",
    "prediction_threshold_shown",
    "prediction_drifted",
    "prediction_reference_shown",
    "prediction_current_shown",
    "estimated_accuracy_shown",
    "estimated_f1_shown",
    "label_coverage_shown",
    "settings_snapshot",
)


@admin.register(DriftRun)
class DriftRunAdmin(admin.ModelAdmin[DriftRun]):
    """Drift history, read-only; each run links to its visual report on the dashboard."""

    list_display = [
        "model",
        "model_version",
        "computed_at",
        "status",
        "window_size",
        "drifted_features",
        "dataset_drift",
        "prediction_score_shown",
        "estimated_accuracy_shown",
        "estimated_f1_shown",
        "label_coverage_shown",
        "duration_shown",
    ]
    list_filter = ["model", "status", "dataset_drift"]
    list_select_related = ["model", "model_version__model"]
    inlines = [FeatureDriftResultInline]
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[DriftRun]:
        """Runs with their drifted features' names (one more query for the whole page)."""
        drifted = (
            FeatureDriftResult.objects.filter(drifted=True).only("run_id", "feature_name").order_by("feature_name")
        )
        return super().get_queryset(request).prefetch_related(Prefetch("features", drifted, to_attr=DRIFTED_PREFETCH))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DriftRun | None = None) -> bool:
        return False

    @admin.display(description="drifted features")
    def drifted_features(self, obj: DriftRun) -> str:
        """The names of the features that drifted (NO_VALUE when none)."""
        names = [result.feature_name for result in getattr(obj, DRIFTED_PREFETCH, None) or []]
        if not hasattr(obj, DRIFTED_PREFETCH):
            names = list(
                obj.features.filter(drifted=True).order_by("feature_name").values_list("feature_name", flat=True)
            )
        return ", ".join(names) or NO_VALUE

    @admin.display(description="visual report")
    def report_link(self, obj: DriftRun) -> str:
        url = reverse("dashboard:drift-run", args=[obj.pk])
        return format_html('<a href="{}">Open the drift report (charts per feature)</a>', url)

    @admin.display(description="prediction drift score")
    def prediction_score_shown(self, obj: DriftRun) -> str:
        return number_format(obj.prediction_score)

    @admin.display(description="prediction p-value")
    def prediction_p_value_shown(self, obj: DriftRun) -> str:
        return p_value_format(obj.prediction_p_value)

    @admin.display(description="prediction threshold")
    def prediction_threshold_shown(self, obj: DriftRun) -> str:
        return number_format(obj.prediction_threshold)

    @admin.display(description="predicted classes (reference)")
    def prediction_reference_shown(self, obj: DriftRun) -> str:
        return distribution_format(obj.prediction_reference_distribution)

    @admin.display(description="predicted classes (window)")
    def prediction_current_shown(self, obj: DriftRun) -> str:
        return distribution_format(obj.prediction_current_distribution)

    @admin.display(description="duration")
    def duration_shown(self, obj: DriftRun) -> str:
        return f"{obj.duration_seconds:.2f} s"

    @admin.display(description="estimated accuracy (CBPE)")
    def estimated_accuracy_shown(self, obj: DriftRun) -> str:
        return number_format(obj.estimated_accuracy)

    @admin.display(description="estimated macro F1 (CBPE)")
    def estimated_f1_shown(self, obj: DriftRun) -> str:
        return number_format(obj.estimated_f1)

    @admin.display(description="label coverage")
    def label_coverage_shown(self, obj: DriftRun) -> str:
        return percent_format(obj.label_coverage)


@admin.register(DriftJobStats)
class DriftJobStatsAdmin(admin.ModelAdmin[DriftJobStats]):
    """Running totals of drift jobs."""

    list_display = ["model", "runs", "failures", "feature_failures", "duration_sum"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DriftJobStats | None = None) -> bool:
        return False
