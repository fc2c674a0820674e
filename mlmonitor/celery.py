"""The Celery application; workers and beat start with `celery -A mlmonitor ...`."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmonitor.settings.base")

app = Celery("mlmonitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
