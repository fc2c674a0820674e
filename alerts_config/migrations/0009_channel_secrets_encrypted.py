"""Notification-channel secrets (Slack URL, webhook URL with its credentials, bearer token) encrypted at rest: the
columns become text (a Fernet token is longer than the value) and every stored value is encrypted
(mlmonitor/encryption.py). Reversing decrypts them again."""

from django.db import migrations

import mlmonitor.encryption

SECRET_FIELDS = ("slack_webhook_url", "webhook_url", "webhook_bearer_token")


def secrets_encrypt(apps, schema_editor):
    """Re-save each channel's secrets: the field reads a clear value as is and encrypts it on write."""
    channel_model = apps.get_model("alerts_config", "NotificationChannel")
    for channel in channel_model.objects.using(schema_editor.connection.alias).all():
        channel.save(update_fields=list(SECRET_FIELDS))


def secrets_decrypt(apps, schema_editor):
    """Write the clear values back, for the CharFields of the previous migration."""
    channel_model = apps.get_model("alerts_config", "NotificationChannel")
    table = channel_model._meta.db_table
    connection = schema_editor.connection
    for channel in channel_model.objects.using(connection.alias).all():
        with connection.cursor() as cursor:
            assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in SECRET_FIELDS)
            cursor.execute(
                f"UPDATE {connection.ops.quote_name(table)} SET {assignments} WHERE id = %s",
                [*(getattr(channel, name) for name in SECRET_FIELDS), channel.pk],
            )


class Migration(migrations.Migration):

    dependencies = [
        ('alerts_config', '0008_seed_remaining_kinds'),
    ]

    operations = [
        migrations.AlterField(
            model_name='notificationchannel',
            name='slack_webhook_url',
            field=mlmonitor.encryption.EncryptedTextField(blank=True, help_text='Secret: kept out of alertmanager.yml.', max_length=500, verbose_name='Slack webhook URL'),
        ),
        migrations.AlterField(
            model_name='notificationchannel',
            name='webhook_bearer_token',
            field=mlmonitor.encryption.EncryptedTextField(blank=True, help_text="Optional; sent as 'Authorization: Bearer', read from a file.", max_length=500),
        ),
        migrations.AlterField(
            model_name='notificationchannel',
            name='webhook_url',
            field=mlmonitor.encryption.EncryptedTextField(blank=True, help_text='user:password@ in the URL becomes basic auth read from a file.', max_length=500),
        ),
        migrations.RunPython(secrets_encrypt, secrets_decrypt),
    ]
