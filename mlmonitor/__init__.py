"""mlmonitor: serve scikit-learn predictions and watch them."""

from .celery import app as celery_app

__all__ = ("celery_app",)
