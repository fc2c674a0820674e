"""Settings for the test suite: the base settings with the environment's database, fast hashing."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Importing mlmonitor/wsgi.py in a test loads no model (the tests' database does not exist yet at collection).
WEB_WARM_MODELS = False
METRICS_COLLECTOR_CACHE_SECONDS = 0.0
MODEL_REGISTRY_CACHE_SECONDS = 0.0
# Uploads in tests do not queue the (seconds-long) suggested-threshold fit; tests that want it turn it on.
SUGGESTED_THRESHOLDS_ON_UPLOAD = False
# The suite sends many requests: no rate limit unless a test sets one (tests/mlmonitor/test_throttling.py).
API_THROTTLE_RATES = {"feedback": "", "writes": ""}
# django-axes needs a request in authenticate(), which the test client's login() does not pass: off unless a test
# turns it on (tests/mlmonitor/test_login_lockout.py).
AXES_ENABLED = False
