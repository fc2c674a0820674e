"""Settings for every environment; each value comes from the environment, read here and nowhere else.

Every variable is listed in README.md. https://docs.djangoproject.com/en/5.2/ref/settings/
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from mlmonitor.environment import blank_remove, environ_or, environ_value

# Django's generic classes (ModelAdmin[Model], ModelForm[Model], QuerySet[Model]) subscriptable at runtime as they are
# for mypy: https://github.com/typeddjango/django-stubs/tree/master/ext
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str = "", *, empty_allowed: bool = False) -> str:
    """Read a string variable. Set but blank (empty or only whitespace) counts as unset (a blank `NAME=` line in an
    env file or a compose file gives the default; mlmonitor.environment), unless `empty_allowed`: where empty has a
    meaning of its own (an unlimited throttle rate, no key prefix), a blank value is that empty string."""
    value = environ_value(name)
    if value is None:
        return "" if empty_allowed and name in os.environ else default
    return value


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable: 1/true/yes/on (any case) are true; blank is unset."""
    value = environ_value(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer variable, failing loudly on garbage; blank is unset."""
    value = environ_value(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    """Read a float variable, failing loudly on garbage; blank is unset."""
    value = environ_value(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated list; blank counts as unset, as in env_str."""
    return [item.strip() for item in environ_or(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DJANGO_DEBUG is off (production). Beside `make run`: `source .run/env` first."
        )
    SECRET_KEY = "insecure-debug-only-key"  # noqa: S105 - only ever used with DEBUG on

# Old SECRET_KEYs still accepted for signatures and for decrypting stored secrets (comma-separated) after a rotation.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
# The key of the notification-channel secrets stored in the database (a Fernet key; empty: derived from SECRET_KEY),
# and older ones that may still decrypt (mlmonitor/encryption.py).
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY")
FIELD_ENCRYPTION_KEY_FALLBACKS = env_list("FIELD_ENCRYPTION_KEY_FALLBACKS", "")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by the app: /api/docs/ works offline
    "django_prometheus",
    "django_celery_beat",
    "axes",
    "predictions",
    "drift",
    "alerts_config",
    "demo",
    "dashboard",
]

# Integrations switch on with flags (NetBox style): METRICS_ENABLED wraps the stack in django-prometheus'
# middleware and DB instrumentation; the ml_* metrics of docs/metrics.md are recorded only when it is on.
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# prometheus_client writes its multiprocess files into PROMETHEUS_MULTIPROC_DIR as soon as a metric exists, in any
# process (a manage.py command too): a directory not made yet is made here, instead of a FileNotFoundError there.
# Set but blank counts as unset here too: prometheus_client would go multiprocess on the variable's presence alone and
# write its files into the working directory, each worker then scraped alone. Removed before the client is imported.
blank_remove("PROMETHEUS_MULTIPROC_DIR")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
GPU_METRICS_ENABLED = env_bool("GPU_METRICS_ENABLED", True)
METRICS_COLLECTOR_CACHE_SECONDS = env_float("METRICS_COLLECTOR_CACHE_SECONDS", 5.0)
# Each collector's database reads at scrape time stop after this long (a locked table must not hold /metrics past
# Prometheus' 10 s scrape timeout); the collector then serves its last values, marked ml_metrics_collector_stale.
METRICS_COLLECTOR_DB_TIMEOUT_SECONDS = env_float("METRICS_COLLECTOR_DB_TIMEOUT_SECONDS", 2.0)
# Who may read /metrics (mlmonitor/metrics_access.py; README, "Protecting /metrics"): a bearer token Prometheus sends
# (empty: none needed) and client networks in CIDR, comma-separated (empty: any address).
METRICS_AUTH_TOKEN = env_str("METRICS_AUTH_TOKEN")
METRICS_ALLOWED_NETS = env_list("METRICS_ALLOWED_NETS", "")
# Scrape-time collectors, imported by path when /metrics is first served (mlmonitor/metrics.py).
METRICS_COLLECTORS = [
    "predictions.metrics.ModelRegistryCollector",
    "mlmonitor.metrics.GpuCollector",
    "drift.metrics.DriftCollector",
    "mlmonitor.metrics.CollectorHealthCollector",  # last: reports what the others just did
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # outside every middleware that answers a request itself (the 411 below), so those answers carry it too
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mlmonitor.errors.LengthRequiredMiddleware",  # a chunked body, which Django would read as empty: 411
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mlmonitor.errors.DatabaseUnavailableMiddleware",  # a database failure in any view: JSON 503, not a 500
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: answers a locked-out login
]
# The stock django-prometheus middleware records ~15 values per request; the lean pair (mlmonitor/middleware.py)
# keeps the series the dashboards use. METRICS_HTTP_DETAIL=1 brings back the full set.
METRICS_HTTP_DETAIL = env_bool("METRICS_HTTP_DETAIL", False)
if METRICS_ENABLED:
    _metrics_middleware = "django_prometheus.middleware" if METRICS_HTTP_DETAIL else "mlmonitor.middleware"
    _prefix = "" if METRICS_HTTP_DETAIL else "Lean"
    MIDDLEWARE = [
        f"{_metrics_middleware}.{_prefix}PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        f"{_metrics_middleware}.{_prefix}PrometheusAfterMiddleware",
    ]

ROOT_URLCONF = "mlmonitor.urls"
WSGI_APPLICATION = "mlmonitor.wsgi.application"
# The predict endpoints' common request answered at the WSGI level (mlmonitor/wsgi.py, HotPathRoute); off: every
# request through MIDDLEWARE (for comparison: bench/predict_bench.py --variant full:WEB_HOT_PATH=0).
WEB_HOT_PATH = env_bool("WEB_HOT_PATH", True)
# A web worker loads the URL configuration and the active models (at most MODEL_CACHE_SIZE) when it starts
# (mlmonitor/wsgi.py), not in its first requests: without it the first second after a start answered with a p99 of
# 100-210 ms instead of about 25 (docs/benchmarks.md, "The first second of a web worker").
WEB_WARM_MODELS = env_bool("WEB_WARM_MODELS", True)
# What loads them, by dotted path: the project package imports no app (as METRICS_COLLECTORS).
WEB_WARM_MODELS_LOADER = "predictions.services.models_warm"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        # A health check is one more round trip at the start of every request (8% of a predict's time in the
        # benchmark); off by default, a broken persistent connection then fails one request and is replaced.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", False),
    )
}
# django-prometheus' backends (connections and statements in the django_db_* series), each statement recorded at less
# cost (mlmonitor/backends/__init__.py)
_DB_BACKEND_METRICS = {
    "django.db.backends.postgresql": "mlmonitor.backends.postgresql",
    "django.db.backends.sqlite3": "mlmonitor.backends.sqlite3",
}
if METRICS_ENABLED:
    DATABASES["default"]["ENGINE"] = _DB_BACKEND_METRICS.get(
        DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
    )
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # An unreachable server fails a request within this many seconds (503 database_unavailable), not the OS' minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT_SECONDS", 3)
    )
    # A statement waits at most this long for a lock (PostgreSQL's lock_timeout, in every session): a table locked by
    # a migration or VACUUM FULL fails a request with a 503 database_unavailable, as SQLite's busy timeout does,
    # instead of holding it until the lock goes. 0: wait without limit.
    _lock_timeout_ms = int(env_float("DATABASE_LOCK_TIMEOUT_SECONDS", 20.0) * 1000)
    if _lock_timeout_ms > 0:
        _options = DATABASES["default"]["OPTIONS"]
        _options["options"] = f"{_options.get('options', '')} -c lock_timeout={_lock_timeout_ms}".strip()
if "sqlite3" in DATABASES["default"]["ENGINE"]:
    # WAL lets gunicorn workers read while one writes; the busy timeout queues writers instead of failing. IMMEDIATE
    # transactions take the write lock when they begin, where the busy timeout is honoured: a DEFERRED one that read
    # first fails at once with "database is locked" when it upgrades to write while another connection writes
    # (Django docs, "SQLite notes": "Transactions behavior").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env_float("SQLITE_BUSY_TIMEOUT_SECONDS", 20.0),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite cannot enforce Threshold's unique-with-NULL constraint (models.W047); alerts_config.services checks it.
SILENCED_SYSTEM_CHECKS = ["models.W047"] if "sqlite3" in DATABASES["default"]["ENGINE"] else []

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Admin and dashboard logins: django-axes locks a username from an address out after AXES_FAILURE_LIMIT failed
# attempts, for AXES_COOLOFF_MINUTES (https://django-axes.readthedocs.io/en/latest/4_configuration.html).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("AXES_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The address is REMOTE_ADDR (no forwarded header a client could forge): behind a proxy every client shares the
# proxy's, so the lockout is then per username.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Everything is UTC: Celery beat, Prometheus and the database agree on it (docs/architecture.md, "Time").
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.min.js from the pinned plotly package, served by WhiteNoise: the dashboard needs no CDN.
    "dashboard.staticfiles.PlotlyBundleFinder",
]

# Request size: the body limit answers 413; the batch limit answers 400 (see predictions.services).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
PREDICTION_MAX_BATCH_SIZE = env_int("PREDICTION_MAX_BATCH_SIZE", 5000)
# Types skops may load beyond its defaults (comma-separated); anything else in an artifact is refused, never unpickled.
MODEL_TRUSTED_TYPES = env_list(
    "MODEL_TRUSTED_TYPES",
    "sklearn.tree._tree.Tree,sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor,numpy.dtype",
)
# Loaded models kept per serving process (least recently used are dropped first).
MODEL_CACHE_SIZE = env_int("MODEL_CACHE_SIZE", 8)
# Concurrent prediction requests in one process are scored and logged together (predictions/coalescing.py).
PREDICTION_COALESCING = env_bool("PREDICTION_COALESCING", True)
# How long a process reuses its lookup of a model's active version (a new active version reaches every process
# within this many seconds; the process that made the change forgets at once).
MODEL_REGISTRY_CACHE_SECONDS = env_float("MODEL_REGISTRY_CACHE_SECONDS", 2.0)
# Data-quality counters (predictions/data_quality.py): features per model with their own feature_name label.
DATA_QUALITY_MAX_FEATURES = env_int("DATA_QUALITY_MAX_FEATURES", 50)
# Accuracy and F1 are computed over this many most recent labelled predictions of each model version.
FEEDBACK_WINDOW = env_int("FEEDBACK_WINDOW", 1000)
FEEDBACK_MAX_BULK = env_int("FEEDBACK_MAX_BULK", 10000)
# A reference dataset needs at least this many rows.
REFERENCE_MIN_ROWS = env_int("REFERENCE_MIN_ROWS", 50)
# A reference upload over this many bytes is refused before it is read (parsing holds a few times the file).
REFERENCE_UPLOAD_MAX_BYTES = env_int("REFERENCE_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
# Drift tasks: a lock per model keeps two runs of one model from overlapping (seconds; longer than the hard limit).
DRIFT_TASK_SOFT_TIME_LIMIT = env_int("DRIFT_TASK_SOFT_TIME_LIMIT", 240)
DRIFT_TASK_TIME_LIMIT = env_int("DRIFT_TASK_TIME_LIMIT", 300)
# Suggested drift thresholds (drift/threshold_fitting.py): the no-drift quantile, bootstrap resamples, and whether a
# reference upload queues their computation (the beat task drift.tasks.suggested_thresholds_compute_due also does).
SUGGESTED_THRESHOLD_QUANTILE = env_float("SUGGESTED_THRESHOLD_QUANTILE", 0.99)
SUGGESTED_THRESHOLD_RESAMPLES = env_int("SUGGESTED_THRESHOLD_RESAMPLES", 500)
SUGGESTED_THRESHOLDS_ON_UPLOAD = env_bool("SUGGESTED_THRESHOLDS_ON_UPLOAD", True)
# The per-model drift lock's TTL (s), renewed every third of it while its task runs: a killed worker blocks the
# model's next runs for at most this long.
DRIFT_LOCK_TTL_SECONDS = env_int("DRIFT_LOCK_TTL_SECONDS", 60)
# Retention (days; 0 keeps forever): predictions, drift runs (the latest run of each model is always kept) and alert
# events (by when Alertmanager last posted them) older than this are removed by the beat task
# predictions.tasks.history_prune and `manage.py prune_history`, in batches of PRUNE_BATCH_SIZE rows, each its own
# transaction, with PRUNE_BATCH_PAUSE_SECONDS between batches.
PREDICTION_RETENTION_DAYS = env_int("PREDICTION_RETENTION_DAYS", 30)
DRIFT_RUN_RETENTION_DAYS = env_int("DRIFT_RUN_RETENTION_DAYS", 90)
ALERT_EVENT_RETENTION_DAYS = env_int("ALERT_EVENT_RETENTION_DAYS", 180)
PRUNE_BATCH_SIZE = env_int("PRUNE_BATCH_SIZE", 1000)
PRUNE_BATCH_PAUSE_SECONDS = env_float("PRUNE_BATCH_PAUSE_SECONDS", 0.05)
# Each app prunes its own table: (its pruner's dotted path, the setting with its retention), run in this order by
# mlmonitor/retention.py history_prune, which imports them by path (the project package imports no app).
HISTORY_PRUNERS = [
    ("predictions.services.prediction_prune", "PREDICTION_RETENTION_DAYS"),
    ("drift.services.drift_run_prune", "DRIFT_RUN_RETENTION_DAYS"),
    ("alerts_config.services.alert_event_prune", "ALERT_EVENT_RETENTION_DAYS"),
]
# Predict and the read endpoints are open unless this is on; feedback, drift runs and the webhook always need a token.
API_REQUIRE_TOKEN_FOR_READ = env_bool("API_REQUIRE_TOKEN_FOR_READ", False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mlmonitor.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mlmonitor.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "mlmonitor.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "mlmonitor.openapi.ApiAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["mlmonitor.throttling.SettingsScopedRateThrottle"],
}
# Requests per client (user, else address) and period (s, min, hour, day) of the API's writes: labels (`feedback`)
# and other token-authenticated writes (`writes`: drift runs); over it, 429 with Retry-After. Empty: no limit.
API_THROTTLE_RATES = {
    "feedback": env_str("API_THROTTLE_FEEDBACK_RATE", "600/min", empty_allowed=True),
    "writes": env_str("API_THROTTLE_WRITE_RATE", "60/min", empty_allowed=True),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mlmonitor API",
    "DESCRIPTION": "Serve scikit-learn predictions and watch them: latency, errors, confidence, accuracy, drift.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the pinned drf-spectacular-sidecar package, not a CDN at @latest.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False  # opted into per task, only for idempotent ones
# Keys and the queue of this deployment, apart from other programs on the same Redis: every broker and result key
# and the drift locks start with REDIS_KEY_PREFIX, and tasks go to CELERY_QUEUE (not Celery's shared "celery").
# `make run` gives each checkout its own of both (scripts/run.sh).
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "mlmonitor:", empty_allowed=True)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "mlmonitor")
# An acks_late message whose worker vanished (the whole worker killed, not only a pool process) is delivered again
# after this many seconds: longer than the longest acks_late task (history_prune: 1900 s), or a running task would be
# delivered twice.
BROKER_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT", 2000)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT_SECONDS,
    "global_keyprefix": REDIS_KEY_PREFIX,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that queues a task (POST .../drift/run) must answer a fast 503 when Redis is down, not wait out the
# default retries (4 s connect timeout, 20 result-backend reconnects: a 500 after 19 s). Workers use these too.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-timeout
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_CONNECT_TIMEOUT_SECONDS", 2.0)
CELERY_BROKER_TRANSPORT_OPTIONS["socket_connect_timeout"] = CELERY_BROKER_CONNECTION_TIMEOUT
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_CONNECTION_TIMEOUT
CELERY_REDIS_SOCKET_TIMEOUT = env_float("CELERY_REDIS_SOCKET_TIMEOUT_SECONDS", 10.0)
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "global_keyprefix": REDIS_KEY_PREFIX,
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
}
# Publishing from a request: one retry, then the error (the API answers 503 broker_unavailable).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_RESULT_EXPIRES = 3600

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
# HTTPS hardening for `manage.py check --deploy` (README, "Production settings"): off by default so plain-HTTP
# development and `make run` work. https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", env_bool("BEHIND_TLS_PROXY", False))
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", env_bool("BEHIND_TLS_PROXY", False))
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probes and Prometheus reach the service over plain HTTP inside the network: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Alerting ---------------------------------------------------------------------------------------------------------
# alerts_config renders thresholds and notification channels into these files, validates them with promtool and
# amtool, swaps them in with os.replace() and reloads both servers (they must run with --web.enable-lifecycle).
# Prometheus loads `<ALERT_RULES_DIR>/*.rules.yml`: mount the directory, never a single file (prometheus#2544).
ALERT_RULES_DIR = Path(env_str("ALERT_RULES_DIR", str(BASE_DIR / "monitoring" / "generated" / "rules")))
ALERTMANAGER_CONFIG_PATH = Path(
    env_str("ALERTMANAGER_CONFIG_PATH", str(BASE_DIR / "monitoring" / "generated" / "alertmanager.yml"))
)
# Channel secrets (Slack URL, webhook credentials) land here as files that alertmanager.yml references by path
# (`api_url_file`, `password_file`, `credentials_file`): Alertmanager must see this directory at the same path.
ALERTMANAGER_SECRETS_DIR = Path(
    env_str("ALERTMANAGER_SECRETS_DIR", str(BASE_DIR / "monitoring" / "generated" / "secrets"))
)
# Octal permissions of the secret files (and of a webhook token file the app writes); 640 or 644 when
# Alertmanager runs as another user, e.g. in its own container.
ALERT_SECRET_FILE_MODE = env_str("ALERT_SECRET_FILE_MODE", "600")
PROMETHEUS_URL = env_str("PROMETHEUS_URL", "http://127.0.0.1:9090")
ALERTMANAGER_URL = env_str("ALERTMANAGER_URL", "http://127.0.0.1:9093")
# Found on PATH unless set; when missing, generated files are written unvalidated and the publish says so.
PROMTOOL_PATH = env_str("PROMTOOL_PATH", "promtool")
AMTOOL_PATH = env_str("AMTOOL_PATH", "amtool")
ALERT_RELOAD_TIMEOUT_SECONDS = env_float("ALERT_RELOAD_TIMEOUT_SECONDS", 5.0)
# The service's own receiver (alert history): always in alertmanager.yml, authenticated with a DRF token that
# Alertmanager reads from ALERT_WEBHOOK_TOKEN_FILE (created for ALERT_WEBHOOK_USERNAME when the file is missing).
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL", "http://127.0.0.1:8000/api/v1/alerts/webhook")
ALERT_WEBHOOK_TOKEN_FILE = Path(env_str("ALERT_WEBHOOK_TOKEN_FILE", str(ALERTMANAGER_SECRETS_DIR / "webhook_token")))
ALERT_WEBHOOK_USERNAME = env_str("ALERT_WEBHOOK_USERNAME", "alertmanager")
# Where people reach this service: notifications link to <MLMONITOR_PUBLIC_URL>/dashboard/models/<name>/.
MLMONITOR_PUBLIC_URL = env_str("MLMONITOR_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# The Prometheus job that scrapes this service (ServiceDown fires on `up{job=...} == 0`).
ALERT_SERVICE_JOB = env_str("ALERT_SERVICE_JOB", "mlmonitor")
# Alertmanager grouping: https://prometheus.io/docs/alerting/0.25/configuration/#route
ALERT_GROUP_WAIT = env_str("ALERT_GROUP_WAIT", "30s")
ALERT_GROUP_INTERVAL = env_str("ALERT_GROUP_INTERVAL", "5m")
ALERT_REPEAT_INTERVAL = env_str("ALERT_REPEAT_INTERVAL", "4h")
# Email channels: the SMTP server Alertmanager uses; the password is read by Alertmanager from a file.
ALERT_SMTP_SMARTHOST = env_str("ALERT_SMTP_SMARTHOST")  # host:port
ALERT_SMTP_FROM = env_str("ALERT_SMTP_FROM")
ALERT_SMTP_USERNAME = env_str("ALERT_SMTP_USERNAME")
ALERT_SMTP_PASSWORD_FILE = env_str("ALERT_SMTP_PASSWORD_FILE")
ALERT_SMTP_REQUIRE_TLS = env_bool("ALERT_SMTP_REQUIRE_TLS", True)

# Dashboard ----------------------------------------------------------------------------------------------------------
# The monitoring pages read time series from PROMETHEUS_URL and firing alerts from ALERTMANAGER_URL (above).
LOGIN_URL = "dashboard:login"
# Prometheus' scrape interval of this service: rate() windows are at least 4 of them, and a step never shorter.
DASHBOARD_SCRAPE_INTERVAL_SECONDS = env_float("DASHBOARD_SCRAPE_INTERVAL_SECONDS", 15.0)
# The `timeout` each query asks Prometheus for; the HTTP client waits one second longer.
DASHBOARD_PROMETHEUS_TIMEOUT_SECONDS = env_float("DASHBOARD_PROMETHEUS_TIMEOUT_SECONDS", 5.0)
DASHBOARD_ALERTMANAGER_TIMEOUT_SECONDS = env_float("DASHBOARD_ALERTMANAGER_TIMEOUT_SECONDS", 3.0)
# How long a process reuses a Prometheus or Alertmanager answer (and remembers that one was unreachable).
DASHBOARD_CACHE_SECONDS = env_float("DASHBOARD_CACHE_SECONDS", 10.0)
