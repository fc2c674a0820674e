"""Admin for thresholds, notification channels, the publish state and the alert history.

Saves and deletes go through the services, which validate the rendered rules/config before storing and publish
after commit; the outcome of that publish is shown as a message on the same save.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from mlmonitor.admin import ChecksOutsideTransactionAdmin

from . import advice, selectors, services
from .models import AlertEvent, NotificationChannel, PublishState, Threshold

RETRY_NOTE = "Saved; the publish is retried every minute until Prometheus and Alertmanager run it."


def _publish_report(request: HttpRequest) -> None:
    """Tell the operator how the publish that followed their change went."""
    state = selectors.publish_state_get()
    if state.ok:
        messages.success(request, f"Alerting config published: {state.notes or 'done'}.")
    else:
        messages.error(request, f"Alerting config NOT live: {state.last_error}. {RETRY_NOTE}")


def _service_check(form: forms.BaseForm, check: Callable[[], None]) -> None:
    """Run the service's check of the rendered config on a valid form; its ValidationError becomes a form error.

    The forms call it from _post_clean, the hook Django runs once the form has built the instance from the cleaned
    data (django-stubs does not declare it): the instance is then what the service would save, and the service's own
    check on save reuses this outcome (mlmonitor/passed_checks.py)."""
    if form.errors:
        return
    try:
        check()
    except ValidationError as exc:
        form.add_error(None, exc)


class ThresholdAdminForm(forms.ModelForm[Threshold]):
    """Refuses a threshold whose rules would not pass promtool, on top of the model's range checks."""

    class Meta:
        model = Threshold
        fields = [
            "kind",
            "model",
            "feature_name",
            "value",
            "for_duration",
            "severity",
            "summary",
            "description",
            "enabled",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["feature_name"].widget = forms.Select(choices=self._feature_choices())

    def _feature_choices(self) -> list[tuple[str, Any]]:
        """ "Every feature", then each model's features under its name (the model's own check refuses a feature the
        chosen model lacks); a stored name no model has any more stays listed, so that the check says so."""
        features = selectors.model_feature_names()
        choices: list[tuple[str, Any]] = [("", "every feature (or not a feature-drift threshold)")]
        choices += [(model, [(name, name) for name in names]) for model, names in features.items()]
        current = self.initial.get("feature_name") or self.data.get("feature_name")
        if current and not any(current in names for names in features.values()):
            choices.append((str(current), f"{current} (no model has it)"))
        return choices

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # see _service_check
        if BACKTEST_BUTTON in self.data and not self.errors:
            self.add_error(None, _backtest_report(self.instance))  # shown on the form; nothing is saved
            return
        _service_check(
            self,
            lambda: services.alert_rules_validate(thresholds=selectors.threshold_specs_list(replacing=self.instance)),
        )


BACKTEST_BUTTON = "_backtest"  # the change form's "Backtest this value" button (templates/admin/.../change_form.html)


def _backtest_report(threshold: Threshold) -> str:
    """What the candidate value of a threshold would have flagged over the stored runs (advice.threshold_backtest)."""
    tested = advice.threshold_backtest(
        kind=threshold.kind,
        model_id=threshold.model_id,
        feature_name=threshold.feature_name,
        value=threshold.value,
    )
    if tested is None:
        return f"Backtest: not available for {threshold.get_kind_display()} thresholds. Nothing was saved."
    return f"Backtest of {threshold.value:g}: would have flagged {tested}. Nothing was saved."


def _suggestion(threshold: Threshold) -> advice.Suggestion | None:
    return advice.threshold_suggestion(
        kind=threshold.kind, model_id=threshold.model_id, feature_name=threshold.feature_name
    )


@admin.register(Threshold)
class ThresholdAdmin(ChecksOutsideTransactionAdmin[Threshold]):
    """Thresholds; feature-drift rows also set the drift engine's "drifted" flag."""

    form = ThresholdAdminForm
    list_display = [
        "kind",
        "model",
        "feature_name",
        "comparator",
        "value",
        "suggested",
        "for_duration",
        "severity",
        "enabled",
    ]
    list_filter = ["kind", "severity", "enabled", "model"]
    search_fields = ["feature_name", "model__name", "summary"]
    readonly_fields = ["advice"]
    actions = ["adopt_suggested"]
    change_form_template = "admin/alerts_config/threshold/change_form.html"

    @admin.display(description="suggested")
    def suggested(self, obj: Threshold) -> str:
        """The value fitted to the model's reference beside the set one (drift thresholds of one model), or -."""
        found = _suggestion(obj)
        return "-" if found is None else f"{found.value:.4g}"

    @admin.display(description="fitted to the data")
    def advice(self, obj: Threshold) -> str:
        """The suggested value with its source, and backtests of the set and the suggested value."""
        if not obj.pk:
            return "Save the threshold to see the value fitted to the data; 'Backtest this value' tests any value."
        found = _suggestion(obj)
        lines = []
        if found is not None:
            lines.append(f"Suggested {found.value:.4g}: {found.note}. Adopt it with the list's action.")
        for label, value in [("set", obj.value), ("suggested", found.value if found else None)]:
            if value is None:
                continue
            tested = advice.threshold_backtest(
                kind=obj.kind, model_id=obj.model_id, feature_name=obj.feature_name, value=value
            )
            if tested is not None:
                lines.append(f"The {label} value {value:.4g} would have flagged {tested}.")
        return " ".join(lines) or "No suggestion or backtest for this kind and scope."

    @admin.action(description="Adopt the suggested value (fitted to the data)")
    def adopt_suggested(self, request: HttpRequest, queryset: QuerySet[Threshold]) -> None:
        """Set each selected threshold to its suggestion through the service (validated and published)."""
        adopted, skipped = [], []
        for threshold in queryset:
            found = _suggestion(threshold)
            if found is None:
                skipped.append(str(threshold))
                continue
            threshold.value = round(found.value, 6)
            services.threshold_save(threshold=threshold)
            adopted.append(f"{threshold.feature_name or threshold.get_kind_display()} = {threshold.value:g}")
        if adopted:
            messages.success(request, "Adopted: " + ", ".join(adopted) + ".")
            transaction.on_commit(lambda: _publish_report(request))
        if skipped:
            messages.warning(request, "No suggestion for: " + "; ".join(skipped) + ".")

    @admin.display(description="comparator")
    def comparator(self, obj: Threshold) -> str:
        """The comparison the rule makes (fixed by the kind)."""
        return obj.comparator

    def save_model(self, request: HttpRequest, obj: Threshold, form: ThresholdAdminForm, change: bool) -> None:
        """Save through the service, then report the publish."""
        services.threshold_save(threshold=obj)
        transaction.on_commit(lambda: _publish_report(request))

    def delete_model(self, request: HttpRequest, obj: Threshold) -> None:
        """Delete through the service, then report the publish."""
        services.threshold_delete(thresholds=[obj])
        transaction.on_commit(lambda: _publish_report(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Threshold]) -> None:
        """Bulk delete through the service (one publish)."""
        services.threshold_delete(thresholds=list(queryset))
        transaction.on_commit(lambda: _publish_report(request))


# A channel's secrets: write-only in the admin, encrypted in the database (mlmonitor/encryption.py).
SECRET_FIELDS = ("slack_webhook_url", "webhook_url", "webhook_bearer_token")
REMOVE_BOXES = ("remove_webhook_bearer_token",)


def _secret_state(value: str) -> str:
    return "set" if value else "not set"


class NotificationChannelAdminForm(forms.ModelForm[NotificationChannel]):
    """Refuses a channel whose Alertmanager config would not pass amtool."""

    class Meta:
        model = NotificationChannel
        fields = [
            "name",
            "kind",
            "enabled",
            "min_severity",
            "model",
            "send_resolved",
            "slack_webhook_url",
            "slack_channel",
            "email_to",
            "webhook_url",
            "webhook_bearer_token",
        ]
        widgets = {name: forms.PasswordInput(render_value=False) for name in SECRET_FIELDS}

    remove_webhook_bearer_token = forms.BooleanField(
        required=False, label="Remove the bearer token", help_text="The webhook is then called without one."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Secrets are write-only: a stored one is shown as "set" and never sent back to the browser."""
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            field = self.fields.get(name)
            if field is None:  # view-only: the admin shows the "set / not set" displays instead
                continue
            if getattr(self.instance, name, ""):
                field.widget.attrs["placeholder"] = "set (leave blank to keep it)"
                field.help_text = f"Set, stored encrypted; leave blank to keep it. {field.help_text}"
            else:
                field.widget.attrs["placeholder"] = "not set"

    def clean(self) -> dict[str, Any]:
        """A blank secret keeps the stored one (the form never shows it, so blank means unchanged); the bearer
        token goes only when its removal box is ticked."""
        cleaned = super().clean() or {}
        for name in SECRET_FIELDS:
            if name in self.fields and not cleaned.get(name) and self.instance.pk is not None:
                cleaned[name] = getattr(self.instance, name, "")
        if cleaned.get("remove_webhook_bearer_token"):
            cleaned["webhook_bearer_token"] = ""
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # see _service_check
        _service_check(
            self,
            lambda: services.alertmanager_config_validate(
                channels=selectors.channel_specs_list(replacing=self.instance)
            ),
        )


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ChecksOutsideTransactionAdmin[NotificationChannel]):
    """Slack, email and webhook receivers, routed by minimum severity and optionally by model."""

    form = NotificationChannelAdminForm
    list_display = ["name", "kind", "min_severity", "model", "send_resolved", "enabled"]
    list_filter = ["kind", "min_severity", "enabled"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "min_severity", "model", "send_resolved"]}),
        ("Slack", {"fields": ["slack_webhook_url", "slack_channel"]}),
        ("Email (SMTP server from the environment)", {"fields": ["email_to"]}),
        ("Webhook", {"fields": ["webhook_url", "webhook_bearer_token", "remove_webhook_bearer_token"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: NotificationChannel | None = None) -> Any:
        """Staff who may only view channels see whether each secret is set, never the secret."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            return fieldsets
        shown = {name: f"{name}_state" for name in SECRET_FIELDS}
        return [
            (title, {**options, "fields": [shown.get(str(f), f) for f in options["fields"] if f not in REMOVE_BOXES]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: NotificationChannel | None = None) -> Any:
        """The "set / not set" displays of the secrets, for view-only staff."""
        return [*super().get_readonly_fields(request, obj), *(f"{name}_state" for name in SECRET_FIELDS)]

    @admin.display(description="Slack webhook URL")
    def slack_webhook_url_state(self, obj: NotificationChannel) -> str:
        return _secret_state(obj.slack_webhook_url)

    @admin.display(description="Webhook URL")
    def webhook_url_state(self, obj: NotificationChannel) -> str:
        return _secret_state(obj.webhook_url)

    @admin.display(description="Webhook bearer token")
    def webhook_bearer_token_state(self, obj: NotificationChannel) -> str:
        return _secret_state(obj.webhook_bearer_token)

    def save_model(
        self, request: HttpRequest, obj: NotificationChannel, form: NotificationChannelAdminForm, change: bool
    ) -> None:
        """Save through the service, then report the publish."""
        services.notification_channel_save(channel=obj)
        transaction.on_commit(lambda: _publish_report(request))

    def delete_model(self, request: HttpRequest, obj: NotificationChannel) -> None:
        """Delete through the service, then report the publish."""
        services.notification_channel_delete(channels=[obj])
        transaction.on_commit(lambda: _publish_report(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        """Bulk delete through the service (one publish)."""
        services.notification_channel_delete(channels=list(queryset))
        transaction.on_commit(lambda: _publish_report(request))


@admin.register(PublishState)
class PublishStateAdmin(admin.ModelAdmin[PublishState]):
    """When the generated files were last published, and why the last failure kept the old ones."""

    list_display = ["__str__", "ok", "last_success_at", "last_attempt_at", "last_error_at"]
    readonly_fields = [f.name for f in PublishState._meta.fields]
    actions = ["publish_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PublishState | None = None) -> bool:
        return False

    @admin.action(description="Publish the alerting config now")
    def publish_now(self, request: HttpRequest, queryset: QuerySet[PublishState]) -> None:
        """Render, validate, swap in and reload, as `manage.py publish_alerting` does."""
        result = services.alerting_publish()
        if result.ok:
            self.message_user(request, f"Publish succeeded: {result.summary()}", messages.SUCCESS)
        else:
            self.message_user(request, f"Publish failed: {result.summary()}. {RETRY_NOTE}", messages.ERROR)


DRIFT_ALERTS = frozenset({"DataDriftDetected", "PredictionDriftDetected", "DriftJobStale"})


def duration_text(seconds: float) -> str:
    """A duration as people read it: "45 s", "20 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin[AlertEvent]):
    """Alert history as Alertmanager reported it (read-only), with the model's dashboard page and drift report."""

    list_display = [
        "alertname",
        "model_name",
        "feature",
        "severity",
        "status",
        "starts_at",
        "duration",
        "notifications",
        "links",
    ]
    list_filter = ["status", "alertname", "model_name", "severity"]
    search_fields = ["alertname", "model_name", "fingerprint"]
    date_hierarchy = "starts_at"
    readonly_fields = ["links", "feature", "duration", *[f.name for f in AlertEvent._meta.fields]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AlertEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AlertEvent | None = None) -> bool:
        return False

    @admin.display(description="feature")
    def feature(self, obj: AlertEvent) -> str:
        """The alert's feature_name label ("-" for alerts about a whole model or the service)."""
        return str(obj.labels.get("feature_name", "")) or "-"

    @admin.display(description="duration")
    def duration(self, obj: AlertEvent) -> str:
        """How long it fired: until it resolved, or until now while it fires."""
        end = obj.ends_at if obj.status == AlertEvent.STATUS_RESOLVED and obj.ends_at else timezone.now()
        text = duration_text((end - obj.starts_at).total_seconds())
        return text if obj.status == AlertEvent.STATUS_RESOLVED else f"{text} (firing)"

    @admin.display(description="links")
    def links(self, obj: AlertEvent) -> str:
        """The model's dashboard page, its drift report for drift alerts, the alerts page otherwise."""
        if not obj.model_name:
            return format_html('<a href="{}">alerts</a>', reverse("dashboard:alerts"))
        model_url = reverse("dashboard:model", args=[obj.model_name])
        if obj.alertname in DRIFT_ALERTS:
            drift_url = reverse("dashboard:model-drift", args=[obj.model_name])
            return format_html('<a href="{}">model</a> · <a href="{}">drift report</a>', model_url, drift_url)
        return format_html('<a href="{}">model</a>', model_url)
