"""Admin for reference datasets (checked on upload), drift settings per model, and drift run history."""

from __future__ import annotations

import csv
import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django_celery_beat.models import ClockedSchedule, SolarSchedule

from mlmonitor.admin import ChecksOutsideTransactionAdmin, ShownFlagsForm
from mlmonitor.formatting import (
    NO_VALUE,
    distribution_format,
    number_format,
    p_value_format,
    percent_format,
    summary_format,
)

from . import selectors, services
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = format_html(
            "A CSV file (UTF-8, a header row of column names, comma-separated) or a Parquet file (.parquet), with "
            "one column per feature of the model version, named as in its feature schema (any order; a column the "
            "schema does not name is refused), and at least {} rows. Numbers for numeric features, one of the "
            "schema's categories for categorical ones; an empty cell (or NaN, NA, null) is a missing value where the "
            "feature allows it. Typically the model's training or validation split. The upload <strong>replaces the "
            "version's active reference</strong> for drift: the previous one stays in this list, inactive, and the "
            'action "Make the selected reference active" brings it back.',
            settings.REFERENCE_MIN_ROWS,
        )
        self.fields["model_version"].help_text = "The model version whose drift this reference is compared with."

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


def _replaced_text(replaced: list[ReferenceDataset]) -> str:
    return ", ".join(reference.name for reference in replaced)


class ReferenceDatasetChangeForm(ShownFlagsForm[ReferenceDataset]):
    """A stored reference's page: its name, and "is active" (compared with what the page showed)."""

    shown_flags = ("is_active",)


@admin.register(ReferenceDataset)
class ReferenceDatasetAdmin(ChecksOutsideTransactionAdmin[ReferenceDataset]):
    """Reference datasets; adding one goes through services.reference_dataset_upload. Each reference's page shows
    its per-feature statistics (and a CSV of them); an action makes an earlier reference active again."""

    form = ReferenceDatasetForm
    list_display = ["name", "model_version", "file_format", "row_count", "label_column", "is_active", "uploaded_at"]
    list_filter = ["model_version__model", "is_active"]
    readonly_fields = ["row_count", "file_format", "label_column", "class_counts", "uploaded_at"]
    actions = ["activate"]

    def get_readonly_fields(self, request: HttpRequest, obj: ReferenceDataset | None = None) -> list[str]:
        """The statistics on a stored reference's page only. The upload form's own `file_format` and `label_column`
        stay inputs there (as read-only fields Django would drop them from the form, and no upload could name its
        true-label column)."""
        if obj is not None:
            return [*self.readonly_fields, "feature_statistics"]
        return [name for name in self.readonly_fields if name not in ("file_format", "label_column")]

    def get_form(
        self, request: HttpRequest, obj: ReferenceDataset | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[ReferenceDataset]]:
        if obj is not None:  # an uploaded reference is immutable: upload a new one instead
            kwargs["fields"] = ["name", "is_active"]
            return forms.modelform_factory(
                ReferenceDataset, form=ReferenceDatasetChangeForm, fields=["name", "is_active"]
            )
        # The upload form's fields: its model fields, plus the inputs it declares itself (file format, label column),
        # which the model keeps non-editable.
        kwargs["fields"] = list(ReferenceDatasetForm.Meta.fields)
        return super().get_form(request, obj, change, **kwargs)

    def get_urls(self) -> list[URLPattern]:
        """Adds <id>/statistics.csv: the per-feature statistics of a reference."""
        return [
            path(
                "<int:pk>/statistics.csv",
                self.admin_site.admin_view(self.statistics_csv),
                name="drift_referencedataset_statistics",
            ),
            *super().get_urls(),
        ]

    def statistics_csv(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The reference's per-feature statistics as CSV (one row per feature; categories as JSON)."""
        reference = self.get_object(request, str(pk))
        if reference is None or not self.has_view_permission(request, reference):
            raise Http404("No such reference dataset.")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="reference-{reference.pk}-statistics.csv"'
        writer = csv.DictWriter(response, fieldnames=selectors.REFERENCE_STATISTICS_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in selectors.reference_feature_statistics(reference=reference):
            if "categories" in row:
                row = {**row, "categories": json.dumps(row["categories"])}
            writer.writerow(row)
        return response

    @admin.display(description="per-feature statistics")
    def feature_statistics(self, obj: ReferenceDataset) -> str:
        """A table of each feature's summary, and the CSV link."""
        rows = []
        for row in selectors.reference_feature_statistics(reference=obj):
            if row["type"] == "categorical":
                shares = row["categories"]
                assert isinstance(shares, dict)
                detail = summary_format(
                    {"count": row["count"], "shares": shares, "missing_share": row["missing_share"]}
                )
            else:
                detail = summary_format({**row, "missing_share": row["missing_share"]})
                detail += f"; p5 {number_format(row.get('p5'))}, p95 {number_format(row.get('p95'))}"  # type: ignore[arg-type]
            rows.append((row["feature"], row["type"], detail))
        url = reverse("admin:drift_referencedataset_statistics", args=[obj.pk])
        return format_html(
            "<table><thead><tr><th>feature</th><th>type</th><th>summary</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">Download as CSV</a></p>',
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            url,
        )

    def save_model(
        self, request: HttpRequest, obj: ReferenceDataset, form: forms.ModelForm[ReferenceDataset], change: bool
    ) -> None:
        if change:
            # Ticking "is active" makes this the version's active reference through the service, which switches the
            # other one off first (saving the flag alone would break the one-active-reference constraint: a 500).
            replaced = services.reference_dataset_save(reference=obj, fields=form.changed_data)
            if replaced:
                messages.info(
                    request, f"{obj.name} is the active reference now; it replaces {_replaced_text(replaced)}."
                )
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
        replaced = list(
            ReferenceDataset.objects.filter(model_version_id=saved.model_version_id, is_active=False)
            .exclude(pk=saved.pk)
            .order_by("-uploaded_at")
            .defer("numeric_reference", "categorical_reference")[:1]
        )
        if replaced:
            messages.info(
                request,
                f"{saved.name} ({saved.row_count} rows) replaces {_replaced_text(replaced)} as the active reference of "
                f'{saved.model_version}. The earlier one is kept: select it and run "Make the selected reference '
                'active" to go back.',
            )

    @admin.action(description="Make the selected reference active (for its model version)")
    def activate(self, request: HttpRequest, queryset: QuerySet[ReferenceDataset]) -> None:
        """Make each selected reference its version's active one (the last selected wins per version)."""
        for reference in queryset.defer("numeric_reference", "categorical_reference"):
            replaced = services.reference_dataset_activate(reference=reference)
            note = f"; it replaces {_replaced_text(replaced)}" if replaced else ""
            self.message_user(request, f"{reference.name} is the active reference of {reference.model_version}{note}.")


class FeatureTestInline(admin.TabularInline[FeatureTest, DriftSettings]):
    """Per-feature test choice (thresholds live in Alerting > Thresholds: one number for the flag and the alert)."""

    model = FeatureTest
    extra = 0


class DriftSettingsForm(forms.ModelForm[DriftSettings]):
    """A model's drift settings, and the drift schedule (one for every model), set here as every N minutes or a
    cron expression and kept in django-celery-beat."""

    schedule_every_minutes = forms.IntegerField(
        required=False,
        label="Run drift every (minutes)",
        help_text="The drift schedule, for every model: compute every N minutes. Leave empty to use a cron expression.",
    )
    schedule_cron = forms.CharField(
        required=False,
        label="…or on a cron expression",
        help_text='Five fields, UTC: minute hour day-of-month month day-of-week, e.g. "*/15 8-18 * * 1-5" (every '
        "15 minutes, 08:00-18:59 on weekdays). Used when the minutes are empty.",
    )

    class Meta:
        model = DriftSettings
        fields = [
            "model",
            "enabled",
            "window_size",
            "window_span",
            "min_samples",
            "alpha",
            "correction",
            "use_threshold",
            "use_p_value",
            "dataset_drift_share",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        task = selectors.drift_schedule_task()
        if task is not None and task.interval is not None and task.interval.period == "minutes":
            self.initial.setdefault("schedule_every_minutes", task.interval.every)
        elif task is not None and task.crontab is not None:
            cron = task.crontab
            expression = f"{cron.minute} {cron.hour} {cron.day_of_month} {cron.month_of_year} {cron.day_of_week}"
            self.initial.setdefault("schedule_cron", expression)

    def clean(self) -> dict[str, Any]:
        """Check the schedule as the service will (its error goes on the form); it is saved with the settings."""
        cleaned = super().clean() or {}
        every, cron = cleaned.get("schedule_every_minutes"), cleaned.get("schedule_cron") or ""
        if (every is None) == (not cron.strip()):
            self.add_error(None, "Give the schedule as every N minutes or as a cron expression (not both).")
        elif every is not None and not 1 <= every <= services.DRIFT_SCHEDULE_MAX_MINUTES:
            self.add_error("schedule_every_minutes", f"From 1 to {services.DRIFT_SCHEDULE_MAX_MINUTES} minutes.")
        elif cron.strip():
            from django_celery_beat.models import CrontabSchedule

            fields = cron.split()
            if len(fields) != 5:
                self.add_error("schedule_cron", f"A cron expression has five fields, not {len(fields)}.")
            else:
                names = ["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]
                try:
                    CrontabSchedule(**dict(zip(names, fields, strict=True)), timezone="UTC").full_clean()
                except ValidationError as exc:
                    self.add_error("schedule_cron", f"Not a valid cron expression: {'; '.join(exc.messages)}")
        return cleaned


@admin.register(DriftSettings)
class DriftSettingsAdmin(admin.ModelAdmin[DriftSettings]):
    """Window, minimum samples and decision rule per model; the drift schedule (every model) on the same page."""

    form = DriftSettingsForm

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
        "schedule",
    ]
    list_display_links = ["model"]
    inlines = [FeatureTestInline]

    def get_fieldsets(self, request: HttpRequest, obj: DriftSettings | None = None) -> Any:
        """The model's settings, then the schedule (shared by every model)."""
        return [
            (None, {"fields": DriftSettingsForm.Meta.fields}),
            ("Drift schedule (every model)", {"fields": ["schedule_every_minutes", "schedule_cron"]}),
        ]

    def save_model(
        self, request: HttpRequest, obj: DriftSettings, form: forms.ModelForm[DriftSettings], change: bool
    ) -> None:
        """Save the settings and, when it changed, the schedule (through drift.services.drift_schedule_set)."""
        super().save_model(request, obj, form, change)
        if {"schedule_every_minutes", "schedule_cron"} & set(form.changed_data):
            schedule = services.drift_schedule_set(
                every_minutes=form.cleaned_data.get("schedule_every_minutes"),
                cron=form.cleaned_data.get("schedule_cron") or "",
            )
            self.message_user(request, f"Drift schedule: {schedule.description}.")

    @admin.display(description="schedule (every model)")
    def schedule(self, obj: DriftSettings) -> str:
        """The drift schedule's description."""
        schedule = selectors.drift_schedule_get()
        return schedule.description if schedule is not None else "none"


# Operators set the drift schedule on the drift settings page: Celery beat's clocked and solar schedules, which nothing
# here uses, are not offered (intervals, crontabs and periodic tasks stay for the curious).
for _celery_internal in (ClockedSchedule, SolarSchedule):
    if admin.site.is_registered(_celery_internal):
        admin.site.unregister(_celery_internal)


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
