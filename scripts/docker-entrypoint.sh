#!/bin/sh
# Container entrypoint: `web` (web-setup under a lock, then the web server), `web-setup` (migrate, demo model, webhook
# token, alerting config), `worker` (one Celery worker), `beat` (the one Celery beat), or any other command as given.
set -eu
cd /app
. /app/scripts/env_blank.sh
blank_unset CELERY_CONCURRENCY CELERY_LOG_LEVEL PROMETHEUS_MULTIPROC_DIR WEB_SERVER
# prometheus_client reads this directory at import time, in manage.py commands too: make sure it exists.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then mkdir -p "$PROMETHEUS_MULTIPROC_DIR"; fi

case "${1:-web}" in
  web)
    # Django's system checks (alerts_config/checks.py among them) fail loudly if a named volume the generated
    # alerting config lives in was created by another container with the wrong owner.
    python manage.py check
    # Replicas (docker compose up --scale web=N) start together: one at a time migrates, loads the demo model and
    # writes the alerting config, under a lock on the media volume they all mount.
    mkdir -p "$MEDIA_ROOT"
    flock "$MEDIA_ROOT/.web-setup.lock" "$0" web-setup  # flock(1): util-linux, in every Debian image
    # granian, or gunicorn with WEB_SERVER=gunicorn (mlmonitor/serve.py empties PROMETHEUS_MULTIPROC_DIR first)
    if [ "${WEB_SERVER:-granian}" = gunicorn ]; then exec python -m mlmonitor.serve --control-socket /tmp/gunicorn.ctl; fi
    exec python -m mlmonitor.serve
    ;;
  web-setup)
    python manage.py migrate --noinput
    python manage.py load_demo
    # Rules, alertmanager.yml and the webhook token from the database, before Prometheus and Alertmanager start
    # (both wait for web to be healthy); if that fails, a bootstrap config sends every alert to the webhook.
    if ! python manage.py publish_alerting --no-reload; then
      echo "publish_alerting failed: Alertmanager starts with the bootstrap config" >&2
      python manage.py publish_alerting --bootstrap
    fi
    ;;
  worker)
    exec celery -A mlmonitor worker -l "${CELERY_LOG_LEVEL:-info}" --concurrency "${CELERY_CONCURRENCY:-1}"
    ;;
  beat)
    # Exactly one beat per deployment, with the schedule in the database (django-celery-beat).
    exec celery -A mlmonitor beat -l "${CELERY_LOG_LEVEL:-info}" -S django --pidfile /tmp/celerybeat.pid
    ;;
  *)
    exec "$@"
    ;;
esac
