# The mlmonitor image: web (granian), Celery worker and beat all run from it (scripts/docker-entrypoint.sh).
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=mlmonitor.settings.base \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/srv/mlmonitor/media

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

# The validators the app runs on generated alerting config, the same versions as the servers in docker-compose.yml.
COPY --from=prom/prometheus:v2.53.2 /bin/promtool /usr/local/bin/promtool
COPY --from=prom/alertmanager:v0.27.0 /bin/amtool /usr/local/bin/amtool

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time (whitenoise serves them); the key only satisfies the settings check.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0

# Mount points owned by the app user: a named volume mounted here first copies this ownership
# (docker compose mounts them in web before prometheus and alertmanager read them).
RUN mkdir -p /srv/mlmonitor/media /srv/mlmonitor/rules /srv/mlmonitor/alertmanager \
    && chown -R app:app /srv/mlmonitor

USER app
EXPOSE 8000
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["web"]
