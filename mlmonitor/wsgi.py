"""WSGI entry point for gunicorn (and granian).

Once Django is set up, the objects that exist (about 190,000: modules, classes, settings, the URL and middleware
machinery) live as long as the process; `gc.freeze()` moves them out of the collector's generations. Without it every
full collection walks all of them again, and a batch request, whose parsed rows and answer dicts survive a young
collection or two, brings a full collection every few dozen requests: measured, about half the CPU of a 1,000-row
batch (docs/benchmarks.md, "Batch path"). Objects created later are collected as before.
"""

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmonitor.settings.base")

application = get_wsgi_application()
gc.freeze()
