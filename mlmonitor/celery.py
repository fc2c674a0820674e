"""The Celery application; workers and beat start with `celery -A mlmonitor ...`."""

from __future__ import annotations

from celery import Celery

from .environment import settings_module_default

settings_module_default()

app = Celery("mlmonitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
