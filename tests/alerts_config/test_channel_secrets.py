"""Notification-channel secrets: encrypted at rest (mlmonitor/encryption.py), write-only in the admin (shown as
"set", kept on a blank submit, never rendered back), hidden from view-only staff; the publish step still writes the
clear secret files Alertmanager reads."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from alerts_config import services
from alerts_config.models import NotificationChannel

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.com/services/T0/B0/sup3r-s3cret"
TOKEN = "bearer-s3cret-value"
SECRET_COLUMNS = ("slack_webhook_url", "webhook_url", "webhook_bearer_token")


def stored(channel: NotificationChannel) -> dict[str, str]:
    """The secret columns as the database holds them (raw SQL: no field conversion)."""
    table = connection.ops.quote_name(NotificationChannel._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in SECRET_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} WHERE id = %s", [channel.pk])
        row = cursor.fetchone()
    return dict(zip(SECRET_COLUMNS, row, strict=True))


@pytest.fixture
def slack() -> NotificationChannel:
    return NotificationChannel.objects.create(name="ops", kind="slack", slack_webhook_url=SLACK_URL)


@pytest.fixture
def hook() -> NotificationChannel:
    return NotificationChannel.objects.create(
        name="hook", kind="webhook", webhook_url="https://user:pw-s3cret@hooks.example.org/a", webhook_bearer_token=""
    )


def test_secrets_are_encrypted_in_the_database_and_read_in_clear(slack: NotificationChannel) -> None:
    """The column holds a Fernet token, not the URL; the model reads the URL back."""
    raw = stored(slack)["slack_webhook_url"]
    assert raw.startswith("fernet:") and "s3cret" not in raw
    assert NotificationChannel.objects.get(pk=slack.pk).slack_webhook_url == SLACK_URL


def test_a_changed_key_without_fallback_says_so(slack: NotificationChannel, settings: Any) -> None:
    """Another SECRET_KEY: reading fails loudly naming the setting; with the old key as a fallback it reads."""
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "another-key"
    with pytest.raises(ImproperlyConfigured, match="FALLBACKS"):
        NotificationChannel.objects.get(pk=slack.pk)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert NotificationChannel.objects.get(pk=slack.pk).slack_webhook_url == SLACK_URL


def test_the_data_migration_encrypts_values_stored_in_clear(slack: NotificationChannel) -> None:
    """A value written in clear (as before the migration) is encrypted by the migration's function."""
    # given
    table = connection.ops.quote_name(NotificationChannel._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET slack_webhook_url = %s WHERE id = %s", [SLACK_URL, slack.pk])
    assert stored(slack)["slack_webhook_url"] == SLACK_URL
    migration = importlib.import_module("alerts_config.migrations.0009_channel_secrets_encrypted")

    # when
    class Editor:
        connection = connection

    migration.secrets_encrypt(apps, Editor)
    # then
    assert stored(slack)["slack_webhook_url"].startswith("fernet:")
    assert NotificationChannel.objects.get(pk=slack.pk).slack_webhook_url == SLACK_URL


def test_the_change_form_never_renders_a_secret(admin_client: Client, slack: NotificationChannel) -> None:
    """An editor sees that the URL is set, not the URL."""
    page = admin_client.get(f"/admin/alerts_config/notificationchannel/{slack.pk}/change/").content.decode()
    assert "sup3r-s3cret" not in page
    assert "Set, stored encrypted" in page


def test_a_blank_submit_keeps_the_stored_secret(
    admin_client: Client, hook: NotificationChannel, settings: Any, tmp_path: Path
) -> None:
    """Saving the form with the secret fields blank changes nothing in them; a new token is taken; the removal box
    removes it."""
    # given
    form = {
        "name": "hook",
        "kind": "webhook",
        "enabled": "on",
        "min_severity": "warning",
        "model": "",
        "send_resolved": "on",
        "slack_webhook_url": "",
        "slack_channel": "",
        "email_to": "",
        "webhook_url": "",
        "webhook_bearer_token": "",
    }
    url = f"/admin/alerts_config/notificationchannel/{hook.pk}/change/"
    # when
    kept = admin_client.post(url, form)
    # then
    assert kept.status_code == 302, kept.content.decode()[:2000]
    hook.refresh_from_db()
    assert hook.webhook_url == "https://user:pw-s3cret@hooks.example.org/a"
    # when: a new URL (no credentials in it) and a token
    changed = admin_client.post(
        url, {**form, "webhook_url": "https://hooks.example.org/b", "webhook_bearer_token": TOKEN}
    )
    assert changed.status_code == 302, changed.context["adminform"].form.errors
    kept_again = admin_client.post(url, form)
    # then
    assert kept_again.status_code == 302
    hook.refresh_from_db()
    assert (hook.webhook_url, hook.webhook_bearer_token) == ("https://hooks.example.org/b", TOKEN)
    # when
    admin_client.post(url, {**form, "remove_webhook_bearer_token": "on"})
    # then
    hook.refresh_from_db()
    assert hook.webhook_bearer_token == ""


def test_view_only_staff_see_set_not_the_secret(slack: NotificationChannel, hook: NotificationChannel) -> None:
    """Staff with only the view permission: the page says "set", and no secret is on it."""
    # given
    user = get_user_model().objects.create_user(username="viewer", password="x-not-used", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_notificationchannel"))
    client = Client()
    client.force_login(user)
    # when
    pages = [client.get(f"/admin/alerts_config/notificationchannel/{channel.pk}/change/") for channel in (slack, hook)]
    # then
    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert "s3cret" not in text
        assert ">set<" in text
    assert 'name="slack_webhook_url"' not in pages[0].content.decode()


def test_the_publish_writes_the_clear_secret_file(slack: NotificationChannel) -> None:
    """Alertmanager reads the Slack URL from the file the publish writes: the clear URL, not the stored token."""
    # when
    services.alerting_publish(reload=False)
    # then
    files = [path.read_text() for path in Path(services.settings.ALERTMANAGER_SECRETS_DIR).iterdir() if path.is_file()]
    assert SLACK_URL in files
