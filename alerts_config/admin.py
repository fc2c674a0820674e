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

from . import selectors, services
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

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # see _service_check
        _service_check(
            self,
            lambda: services.alert_rules_validate(thresholds=selectors.threshold_specs_list(replacing=self.instance)),
        )


@admin.register(Threshold)
class ThresholdAdmin(admin.ModelAdmin[Threshold]):
    """Thresholds; feature-drift rows also set the drift engine's "drifted" flag."""

    form = ThresholdAdminForm
    list_display = ["kind", "model", "feature_name", "comparator", "value", "for_duration", "severity", "enabled"]
    list_filter = ["kind", "severity", "enabled", "model"]
    search_fields = ["feature_name", "model__name", "summary"]

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
class NotificationChannelAdmin(admin.ModelAdmin[NotificationChannel]):
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


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin[AlertEvent]):
    """Alert history as Alertmanager reported it (read-only)."""

    list_display = ["alertname", "model_name", "status", "severity", "starts_at", "ends_at", "notifications"]
    list_filter = ["status", "alertname", "model_name", "severity"]
    search_fields = ["alertname", "model_name", "fingerprint"]
    date_hierarchy = "starts_at"
    readonly_fields = [f.name for f in AlertEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AlertEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AlertEvent | None = None) -> bool:
        return False
