"""HTTP API of alerting: the Alertmanager webhook that feeds the alert history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mlmonitor.errors import ERROR_SCHEMA

from . import services
from .models import AlertEvent


class AlertText(serializers.CharField):
    """Any string Alertmanager may send, of any length: NUL characters and lone surrogates (which PostgreSQL cannot
    store) become U+FFFD instead of failing the whole notification; the service fits it to its column."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        """The string with characters no database stores replaced; a non-string (Alertmanager sends only strings)
        is refused, as the schema says, rather than turned into one."""
        if not isinstance(data, str):
            self.fail("invalid")
        return services.alert_text_clean(super().to_internal_value(data))


class AlertmanagerAlertSerializer(serializers.Serializer[dict[str, Any]]):
    """One alert of an Alertmanager webhook payload (version 4). Lengths are not limited here: one alert with a long
    label (from rules that are not ours) must not make Alertmanager drop or retry the whole notification."""

    status = serializers.ChoiceField(choices=[AlertEvent.STATUS_FIRING, AlertEvent.STATUS_RESOLVED])
    labels = serializers.DictField(child=AlertText())
    annotations = serializers.DictField(child=AlertText(), required=False, default=dict)
    startsAt = serializers.DateTimeField()
    endsAt = serializers.DateTimeField(required=False, allow_null=True, default=None)
    generatorURL = AlertText(required=False, default="")
    fingerprint = AlertText(allow_blank=False)

    def validate_startsAt(self, value: datetime) -> datetime:
        """An alert without a start time cannot be stored as an episode."""
        if services.alert_time_parse(value) is None:
            raise serializers.ValidationError("startsAt must be a real time.")
        return value

    def validate_endsAt(self, value: datetime | None) -> datetime | None:
        """The zero time means "not ended"."""
        return services.alert_time_parse(value)


@extend_schema_field({"type": "string", "enum": ["4"]})
class WebhookVersionField(AlertText):
    """The payload version: only "4" is understood (documented as that one value)."""


class AlertWebhookApi(APIView):
    """POST /api/v1/alerts/webhook: Alertmanager's webhook (payload version 4), with a bearer token."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer[dict[str, Any]]):
        """The payload: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config"""

        version = WebhookVersionField()
        status = serializers.ChoiceField(choices=[AlertEvent.STATUS_FIRING, AlertEvent.STATUS_RESOLVED])
        receiver = AlertText(required=False, default="")
        groupKey = AlertText(required=False, default="")
        alerts = AlertmanagerAlertSerializer(many=True, allow_empty=True)

        def validate_version(self, value: str) -> str:
            """Only version 4 is understood."""
            if value != "4":
                raise serializers.ValidationError(f'Unsupported webhook payload version {value!r}: expected "4".')
            return value

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "AlertWebhookStored",
                {
                    "received": serializers.IntegerField(),
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                },
            ),
            400: ERROR_SCHEMA,
            401: ERROR_SCHEMA,
        },
    )
    def post(self, request: Request) -> Response:
        """Store each alert of the payload in the alert history."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.alert_events_ingest(receiver=data["receiver"], alerts=data["alerts"])
        return Response(
            {
                "received": len(data["alerts"]),
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
            }
        )
