#!/usr/bin/env bash
# `make run`: the whole stack on this machine without Docker, listening on 127.0.0.1 only:
# Redis (a running one on 6379, else our own), the web server (granian; WEB_SERVER=gunicorn), one Celery worker,
# one beat, Prometheus, Alertmanager.
# State lives in .run/ (secret key, admin password, API token, logs, Prometheus and Alertmanager data); the
# database is DATABASE_URL, SQLite (db.sqlite3) by default. Each service runs in its own process group;
# Ctrl-C (or SIGTERM) stops them all and waits until every one is gone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/env_blank.sh
blank_unset ALERTMANAGER_CONFIG_PATH ALERTMANAGER_URL ALERT_RULES_DIR ALERT_WEBHOOK_TOKEN_FILE ALERT_WEBHOOK_URL \
  CELERY_BROKER_URL CELERY_QUEUE DATABASE_URL DJANGO_DEBUG METRICS_AUTH_TOKEN MLMONITOR_PUBLIC_URL MLMONITOR_RUN_DIR \
  PROMETHEUS_URL REDIS_KEY_PREFIX REDIS_URL SECRET_KEY VENV WEB_BIND WEB_SERVER WEB_WORKERS
VENV=${VENV:-.venv}
case $VENV in /*) ;; *) VENV=$ROOT/$VENV ;; esac
PY=$VENV/bin/python
RUN_DIR=${MLMONITOR_RUN_DIR:-$ROOT/.run}
LOG_DIR=$RUN_DIR/logs
GENERATED_DIR=$ROOT/monitoring/generated

if [ ! -x "$PY" ]; then
  echo "No virtualenv at $VENV: run 'make run' (it creates it) or 'make venv' first." >&2
  exit 1
fi
# One stack per checkout: a second start would truncate the first one's logs, wipe its metrics directory, remove its
# control socket and rewrite .run/env and the generated configs. The lock is taken before anything is touched and
# held (also by the services, which inherit it) until the stack is gone.
mkdir -p "$RUN_DIR"
exec 9>>"$RUN_DIR/lock"
if ! flock -n 9; then
  other=$(cat "$RUN_DIR/run.pid" 2>/dev/null || echo "unknown")
  echo "mlmonitor is already running in this checkout (pid $other, state in ${RUN_DIR#"$ROOT"/}/): nothing was" \
    "changed. Stop it with Ctrl-C in its terminal (or: kill $other) before starting it again." >&2
  exit 1
fi
echo $$ >"$RUN_DIR/run.pid"
mkdir -p "$LOG_DIR"
chmod 700 "$RUN_DIR"

# ---------------------------------------------------------------- process bookkeeping and a clean stop
pids=()
names=()
stopping=0

start() { # start NAME COMMAND...: run in a new session (its own process group), output to .run/logs/NAME.log
  local name=$1
  shift
  : >"$LOG_DIR/$name.log"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  pids+=("$!")
  names+=("$name")
}

pid_of() { # pid_of NAME
  local i
  for i in "${!names[@]}"; do [ "${names[i]}" = "$1" ] && echo "${pids[i]}" && return; done
  return 1
}

stop_group() { # stop_group SECONDS PID...: SIGTERM the leaders, wait, then SIGKILL whatever is left in their groups
  local limit=$1 pid
  shift
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + limit))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  done
  for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}

stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  [ ${#pids[@]} -eq 0 ] && return
  echo
  echo "Stopping ${names[*]} ..."
  local apps=() i redis_pid=""
  for i in "${!names[@]}"; do
    if [ "${names[i]}" = redis ]; then redis_pid=${pids[i]}; else apps+=("${pids[i]}"); fi
  done
  # The broker goes last, so the worker and beat shut down without losing their connection.
  [ ${#apps[@]} -gt 0 ] && stop_group 25 "${apps[@]}"
  [ -n "$redis_pid" ] && stop_group 10 "$redis_pid"
  wait 2>/dev/null || true
  echo "Stopped; logs are in ${LOG_DIR#"$ROOT"/}/."
}

# Ctrl-C (or SIGTERM) is how the stack is meant to stop: after a clean stop that is success (exit 0, so make does not
# report "Error 130").
trap 'stop_all; exit 0' INT
trap 'stop_all; exit 0' TERM
trap 'stop_all; exit 129' HUP
trap 'stop_all' EXIT

# ---------------------------------------------------------------- small helpers
port_free() { # port_free PORT: nothing listens on 127.0.0.1:PORT (TIME_WAIT leftovers do not count)
  [ "$(port_pick "$1")" = "$1" ]
}

port_pick() { # port_pick PREFERRED [TAKEN...]: PREFERRED when nothing listens there, else a free loopback port
  "$PY" - "$@" <<'PYEOF'
import socket, sys
preferred, taken = int(sys.argv[1]), {int(port) for port in sys.argv[2:]}
def bindable(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return sock.getsockname()[1]
port = bindable(preferred) if preferred not in taken else None
while port is None or port in taken:
    port = bindable(0)
print(port)
PYEOF
}

http_wait() { # http_wait URL SECONDS PID: until URL answers below 500, or the process is gone, or time is up
  "$PY" - "$@" <<'PYEOF'
import os, signal, sys, time, urllib.error, urllib.request
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))  # Ctrl-C while waiting: no traceback, the trap stops all
url, limit, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    try:
        with urllib.request.urlopen(url, timeout=2):
            sys.exit(0)
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit(1)
PYEOF
}

log_wait() { # log_wait NAME PATTERN SECONDS: until the service's log shows PATTERN
  local deadline=$((SECONDS + $3)) pid
  pid=$(pid_of "$1")
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q "$2" "$LOG_DIR/$1.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.3
  done
  return 1
}

status=()
status_add() { status+=("$(printf '  %-13s %-5s %s' "$1" "$2" "$3")"); }

missing_say() { # missing_say PROGRAM PACKAGE WHAT
  echo "!! '$1' is not installed: $3 will not run. Install it with: sudo apt-get install $2" >&2
  status_add "$1" "SKIP" "not installed (apt-get install $2)"
}

# ---------------------------------------------------------------- configuration
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$RUN_DIR/secret_key" ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$RUN_DIR/secret_key")
  fi
  SECRET_KEY=$(cat "$RUN_DIR/secret_key")
fi
export SECRET_KEY
export DJANGO_DEBUG=${DJANGO_DEBUG:-0}
export DJANGO_SETTINGS_MODULE=mlmonitor.settings.base

if [ -z "${WEB_BIND:-}" ]; then
  WEB_BIND=127.0.0.1:$(port_pick 8000)
elif ! port_free "${WEB_BIND##*:}"; then
  echo "WEB_BIND=$WEB_BIND: that port is taken." >&2
  exit 1
fi
export WEB_BIND WEB_WORKERS=${WEB_WORKERS:-2}
WEB_URL=http://$WEB_BIND
PROMETHEUS_PORT=$(port_pick 9090 "${WEB_BIND##*:}")
ALERTMANAGER_PORT=$(port_pick 9093 "${WEB_BIND##*:}" "$PROMETHEUS_PORT")
for pair in "web 8000 ${WEB_BIND##*:}" "Prometheus 9090 $PROMETHEUS_PORT" "Alertmanager 9093 $ALERTMANAGER_PORT"; do
  read -r what wanted got <<<"$pair"
  [ "$wanted" != "$got" ] && echo "Port $wanted is taken: $what listens on 127.0.0.1:$got instead."
done

# Where the app writes generated alerting config, and the instances it reloads after writing it.
export ALERT_RULES_DIR=${ALERT_RULES_DIR:-$GENERATED_DIR/rules}
export ALERTMANAGER_CONFIG_PATH=${ALERTMANAGER_CONFIG_PATH:-$GENERATED_DIR/alertmanager.yml}
export PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:$PROMETHEUS_PORT}
export ALERTMANAGER_URL=${ALERTMANAGER_URL:-http://127.0.0.1:$ALERTMANAGER_PORT}
# Alertmanager posts alerts to the app's webhook with the token of a user made for it (not the admin's).
export ALERT_WEBHOOK_URL=${ALERT_WEBHOOK_URL:-$WEB_URL/api/v1/alerts/webhook}
export ALERT_WEBHOOK_TOKEN_FILE=${ALERT_WEBHOOK_TOKEN_FILE:-$GENERATED_DIR/secrets/webhook_token}
# Notifications link to the dashboard here, and to Prometheus and Alertmanager at their --web.external-url below (not
# at this machine's host name, which a browser elsewhere may not resolve).
export MLMONITOR_PUBLIC_URL=${MLMONITOR_PUBLIC_URL:-$WEB_URL}

# ---------------------------------------------------------------- Redis: the given one, a running one, or our own
redis_answers() { "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()' "$1" 2>/dev/null; }
broker=${CELERY_BROKER_URL:-${REDIS_URL:-}}
own_redis=0
if [ -n "$broker" ]; then
  redis_answers "$broker" || echo "!! The broker $broker does not answer; the worker and beat will keep retrying." >&2
elif redis_answers redis://127.0.0.1:6379/0; then
  broker=redis://127.0.0.1:6379/0
elif command -v redis-server >/dev/null 2>&1; then
  own_redis=1
  REDIS_PORT=$(port_pick 6379 "${WEB_BIND##*:}" "$PROMETHEUS_PORT" "$ALERTMANAGER_PORT")
  broker=redis://127.0.0.1:$REDIS_PORT/0
  mkdir -p "$RUN_DIR/redis"
else
  broker=""
fi
if [ -n "$broker" ]; then
  export REDIS_URL=${REDIS_URL:-$broker} CELERY_BROKER_URL=$broker
fi
# A Redis shared with other programs (or other checkouts) keeps this stack's queue, Celery keys and drift locks apart:
# names of this checkout's own, unless given.
checkout_id=$(printf '%s' "$ROOT" | sha256sum | cut -c1-8)
export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-mlmonitor-$checkout_id:} CELERY_QUEUE=${CELERY_QUEUE:-mlmonitor-$checkout_id}

# A file the user can source in another shell to run manage.py against this stack (simulate_traffic, shell, ...).
(
  umask 077
  {
    echo "# source .run/env: the settings 'make run' uses"
    printf 'export %s\n' DJANGO_SETTINGS_MODULE=mlmonitor.settings.base "DJANGO_DEBUG=$DJANGO_DEBUG"
    printf 'export SECRET_KEY=%q\n' "$SECRET_KEY"
    [ -n "${DATABASE_URL:-}" ] && printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"
    [ -n "$broker" ] && printf 'export REDIS_URL=%q CELERY_BROKER_URL=%q\n' "$REDIS_URL" "$CELERY_BROKER_URL"
    printf 'export REDIS_KEY_PREFIX=%q CELERY_QUEUE=%q\n' "$REDIS_KEY_PREFIX" "$CELERY_QUEUE"
    printf 'export %s=%q\n' ALERT_RULES_DIR "$ALERT_RULES_DIR" ALERTMANAGER_CONFIG_PATH "$ALERTMANAGER_CONFIG_PATH" \
      PROMETHEUS_URL "$PROMETHEUS_URL" ALERTMANAGER_URL "$ALERTMANAGER_URL" ALERT_WEBHOOK_URL "$ALERT_WEBHOOK_URL" \
      ALERT_WEBHOOK_TOKEN_FILE "$ALERT_WEBHOOK_TOKEN_FILE" MLMONITOR_URL "$WEB_URL" \
      MLMONITOR_PUBLIC_URL "$MLMONITOR_PUBLIC_URL"
  } >"$RUN_DIR/env"
)

# ---------------------------------------------------------------- database, static files, demo model, users
echo "Preparing the database (${DATABASE_URL:-sqlite:///db.sqlite3}), static files and the demo model ..."
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py collectstatic --noinput -v 0
"$PY" manage.py load_demo
admin_note=$("$PY" scripts/auth_bootstrap.py --username admin --superuser \
  --password-file "$RUN_DIR/admin_password" --token-file "$RUN_DIR/api_token")
[ -n "$admin_note" ] && echo "$admin_note"
if [ -s "$RUN_DIR/admin_password" ]; then
  admin_hint="user admin, password: cat ${RUN_DIR#"$ROOT"/}/admin_password"
else
  admin_hint="user admin (created earlier; reset with: manage.py changepassword admin)"
fi

# ---------------------------------------------------------------- monitoring config: loopback copies
mkdir -p "$ALERT_RULES_DIR"
have_prometheus=0 have_alertmanager=0
command -v prometheus >/dev/null 2>&1 && have_prometheus=1
command -v prometheus-alertmanager >/dev/null 2>&1 && have_alertmanager=1
targets=(--target "web:8000=$WEB_BIND" --target "prometheus:9090=127.0.0.1:$PROMETHEUS_PORT")
[ "$have_alertmanager" = 1 ] && targets+=(--target "alertmanager:9093=127.0.0.1:$ALERTMANAGER_PORT")
# /metrics behind a token (METRICS_AUTH_TOKEN): Prometheus sends it from a file (README, "Protecting /metrics").
if [ -n "${METRICS_AUTH_TOKEN:-}" ]; then
  (umask 077 && printf '%s' "$METRICS_AUTH_TOKEN" >"$RUN_DIR/metrics_token")
  targets+=(--metrics-token-file "$RUN_DIR/metrics_token")
fi
"$PY" scripts/monitoring_config_render.py prometheus "${targets[@]}" --rules-dir "$ALERT_RULES_DIR" \
  --out "$RUN_DIR/prometheus.yml"
# The alert rules, alertmanager.yml and the webhook token, generated from the database before Prometheus and
# Alertmanager start (so they load them at start; --no-reload: nobody is there to reload yet).
if "$PY" manage.py publish_alerting --no-reload >"$LOG_DIR/publish_alerting.log" 2>&1; then
  alerting_hint="config and alert rules generated from the database"
else
  alerting_hint="bootstrap alertmanager.yml: every alert to the webhook"
  echo "!! manage.py publish_alerting failed (.run/logs/publish_alerting.log): Alertmanager starts with the" \
    "bootstrap config." >&2
  # Rendered anew each time (the web port may have changed); a config the app published is left alone.
  "$PY" manage.py publish_alerting --bootstrap >/dev/null
fi

# ---------------------------------------------------------------- start
if [ "$own_redis" = 1 ]; then
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN_DIR/redis" --save "" --appendonly no
fi
# granian by default, gunicorn with WEB_SERVER=gunicorn (mlmonitor/serve.py); with gunicorn, a control socket of
# our own (gunicornc -s .run/gunicorn.ctl): the default one in ~/.gunicorn is shared by every gunicorn of this user.
web_arguments=()
if [ "${WEB_SERVER:-granian}" = gunicorn ]; then web_arguments=(--control-socket "$RUN_DIR/gunicorn.ctl"); fi
start web env PROMETHEUS_MULTIPROC_DIR="$RUN_DIR/prometheus-multiproc" "$VENV/bin/python" -m mlmonitor.serve \
  "${web_arguments[@]}"
if [ -n "$broker" ]; then
  start worker "$VENV/bin/celery" -A mlmonitor worker -l info --concurrency 1 -n "$CELERY_QUEUE@%h"
  start beat "$VENV/bin/celery" -A mlmonitor beat -l info -S django
fi
if [ "$have_prometheus" = 1 ]; then
  start prometheus prometheus --config.file="$RUN_DIR/prometheus.yml" --storage.tsdb.path="$RUN_DIR/prometheus" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle \
    --web.external-url="http://127.0.0.1:$PROMETHEUS_PORT/"
fi
if [ "$have_alertmanager" = 1 ]; then
  start alertmanager prometheus-alertmanager --config.file="$ALERTMANAGER_CONFIG_PATH" \
    --storage.path="$RUN_DIR/alertmanager" --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" \
    --cluster.listen-address= --web.external-url="http://127.0.0.1:$ALERTMANAGER_PORT/"
fi

# ---------------------------------------------------------------- wait until each answers, then say so
check() { # check NAME OK-COMMAND...: one status line
  local name=$1 detail
  shift
  detail="pid $(pid_of "$name"), log .run/logs/$name.log"
  if "$@"; then status_add "$name" "UP" "$detail"; else status_add "$name" "FAIL" "$detail"; fi
}
[ "$own_redis" = 1 ] && check redis redis_answers "$broker"
[ "$own_redis" = 0 ] && [ -n "$broker" ] && status_add redis "UP" "already running at ${broker%/*}"
[ -z "$broker" ] && missing_say redis-server redis-server "Redis, the Celery worker and beat (drift jobs)"
check web http_wait "$WEB_URL/healthz" 60 "$(pid_of web)"
if [ -n "$broker" ]; then
  check worker log_wait worker "ready\." 60
  check beat log_wait beat "beat: Starting" 30
fi
if [ "$have_prometheus" = 1 ]; then
  check prometheus http_wait "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 30 "$(pid_of prometheus)"
else
  missing_say prometheus prometheus "Prometheus"
fi
if [ "$have_alertmanager" = 1 ]; then
  check alertmanager http_wait "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" 30 "$(pid_of alertmanager)"
else
  missing_say prometheus-alertmanager prometheus-alertmanager "Alertmanager"
fi

echo
echo "mlmonitor is running (Ctrl-C stops everything):"
printf '%s\n' "${status[@]}"
echo
echo "  Dashboard     $WEB_URL/dashboard/   (charts, drift reports, alerts; log in as admin)"
echo "  API           $WEB_URL/api/v1/models   (predict: POST $WEB_URL/predict)"
echo "  Admin         $WEB_URL/admin/   ($admin_hint)"
echo "  Swagger UI    $WEB_URL/api/docs/"
echo "  Metrics       $WEB_URL/metrics"
echo "  API token     .run/api_token   (curl -H \"Authorization: Bearer \$(cat .run/api_token)\" ...)"
[ "$have_prometheus" = 1 ] && echo "  Prometheus    http://127.0.0.1:$PROMETHEUS_PORT/"
if [ "$have_alertmanager" = 1 ]; then
  # Debian's prometheus-alertmanager ships without the web UI: its / is a placeholder page, its API works.
  echo "  Alertmanager  http://127.0.0.1:$ALERTMANAGER_PORT/   (API only in the Debian package: firing alerts on" \
    "$WEB_URL/dashboard/alerts/, or: amtool --alertmanager.url=http://127.0.0.1:$ALERTMANAGER_PORT alert query;" \
    "$alerting_hint)"
fi
echo "  Grafana       only in 'docker compose up' (http://127.0.0.1:3000/)"
echo "  Other shell   source .run/env && $VENV/bin/python manage.py ...   (same settings and database)"
echo

# ---------------------------------------------------------------- run until Ctrl-C or until a service dies
if printf '%s\n' "${status[@]}" | grep -q ' FAIL '; then
  echo "!! A service did not come up; see its log above. Stopping." >&2
  exit 1
fi
exited=""
set +e
wait -n -p exited "${pids[@]}"
code=$?
set -e
for i in "${!pids[@]}"; do
  if [ "${pids[i]}" = "$exited" ]; then
    echo "!! ${names[i]} exited (status $code); the end of .run/logs/${names[i]}.log:" >&2
    tail -n 15 "$LOG_DIR/${names[i]}.log" >&2
  fi
done
exit 1
