#!/usr/bin/env bash
# Run the whole suite: against PostgreSQL and Redis when they answer on 127.0.0.1 (as in CI), else SQLite and a
# private redis-server on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env_blank.sh
blank_unset VENV DATABASE_URL REDIS_URL CELERY_BROKER_URL
unset REDIS_PID REDIS_DIR # this script's own (cleanup kills and removes them): never taken from the environment
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
cleanup() {
  local status=$?
  if [ -n "${REDIS_PID:-}" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  if [ -n "${REDIS_DIR:-}" ]; then rm -rf "$REDIS_DIR"; fi
  exit "$status"
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  if "$PY" - <<'PYEOF' 2>/dev/null
import psycopg
psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", connect_timeout=2).close()
PYEOF
  then
    export DATABASE_URL="postgresql://root@127.0.0.1:5432/mlmonitor"
  else
    echo "PostgreSQL does not answer on 127.0.0.1:5432: the suite runs on SQLite."
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if "$PY" -c "import redis; redis.Redis(host='127.0.0.1', port=6379, socket_connect_timeout=1).ping()" 2>/dev/null; then
    export REDIS_URL="redis://127.0.0.1:6379/15"
  elif command -v redis-server >/dev/null 2>&1; then
    REDIS_PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
    REDIS_DIR=$(mktemp -d)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$REDIS_DIR" --daemonize no \
      >"$REDIS_DIR/log" 2>&1 &
    REDIS_PID=$!
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    for _ in $(seq 50); do "$PY" -c "import redis; redis.Redis.from_url('$REDIS_URL').ping()" 2>/dev/null && break; sleep 0.1; done
  else
    echo "No Redis: tests that need a real broker will report it." >&2
  fi
fi
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-${REDIS_URL:-}}"
echo "database: ${DATABASE_URL:-sqlite}  redis: ${REDIS_URL:-none}"
"$VENV/bin/pytest" "$@"
