"""App config for the demo: the iris model, its reference data, and simulated traffic."""

from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py load_demo` and `manage.py simulate_traffic`: a model to try the service with, and traffic for it."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
