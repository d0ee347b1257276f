"""Fulcrum settings, driven by the environment.

The one place that reads the environment (with the small modules it calls: operations/conf.py,
appliance/logs.py, appliance/hosts.py); the rest of the code reads django.conf.settings. Every
variable, its default and what reads it: docs/SETTINGS.md.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

from appliance.hosts import allowed_hosts
from appliance.inputgate import MAX_JSON_BYTES
from appliance.privatefiles import create_private, make_private, private_dir, read_or_create_private

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = private_dir(Path(os.environ.get("FULCRUM_DATA_DIR", BASE_DIR / "var")))  # 0700: holds secrets


def _secret_key() -> str:
    """From the environment, or generated on first run and kept beside the database."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    return read_or_create_private(DATA_DIR / "secret_key", secrets.token_urlsafe(50)).strip()


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(int(default))).lower() in ("1", "true", "yes", "on")


SECRET_KEY = _secret_key()
DEBUG = _env_bool("FULCRUM_DEBUG")
ALLOWED_HOSTS = allowed_hosts()  # FULCRUM_ALLOWED_HOSTS, or derived from FULCRUM_LISTEN and names (hosts.py)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "accounts",
    "audit",
    "virtualservices",
    "realservers",
    "cluster",
    "healthchecks",
    "checklists",
    "ha",
    "reports",
    "frontend",
    "operations",
    "axes",
    "netconfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "appliance.api_errors.ApiErrorMiddleware",  # every /api/ answer JSON, one error shape
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files under gunicorn: no CDN, no extra server
    "operations.lockdown.LockdownMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: the WebUI answers htmx requests with partials
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "axes.middleware.AxesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.context.ActorMiddleware",
    "frontend.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "appliance.urls"
WSGI_APPLICATION = "appliance.wsgi.application"

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
                "frontend.context.appliance",
            ],
        },
    },
]

# As given (empty: the embedded SQLite file): keepalived's notify command gets it (ha/keepalived.py).
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'fulcrum.sqlite3'}",
        conn_max_age=int(os.environ.get("FULCRUM_DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the worker write while the web process reads.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):  # password hashes, sessions, secrets: 0600
        _db = Path(DATABASES["default"]["NAME"])
        create_private(_db)
        make_private(_db.with_name(_db.name + "-wal"), _db.with_name(_db.name + "-shm"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Security: password/key guessing (django-axes; see accounts/throttle.py) ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username+address before the password
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("FULCRUM_LOGIN_FAILURES", "5"))  # per username, from one address
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("FULCRUM_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "accounts.throttle.axes_username"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.throttle.keep_view_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Security: response headers. The WebUI has no inline scripts or style attributes (fulcrum.js/.css);
# the API docs page alone allows its inline <style> (appliance/urls.py).
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF], "script-src": [SELF], "style-src": [SELF], "img-src": [SELF, "data:"],
    "connect-src": [SELF], "font-src": [SELF], "object-src": [NONE], "base-uri": [SELF],
    "form-action": [SELF], "frame-ancestors": [NONE],
}}
# This appliance's HTTPS certificate as gunicorn serves it (deploy/gunicorn.conf.py); its fingerprint goes to
# the HA peer at pairing, which pins it (ha/tls.py).
FULCRUM_TLS_CERT = Path(os.environ.get("FULCRUM_TLS_CERT",
                                       f"{os.environ.get('FULCRUM_TLS_DIR', '/etc/fulcrum/tls')}/cert.pem"))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TZ", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve straight from the apps' static folders; collectstatic optional

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_AGE = int(os.environ.get("FULCRUM_SESSION_SECONDS", str(8 * 3600)))
SESSION_COOKIE_HTTPONLY = True
# A WebUI session ends after this long without a request a person made (frontend/middleware.py).
FULCRUM_IDLE_MINUTES = int(os.environ.get("FULCRUM_IDLE_MINUTES", "30"))
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Starts every Redis key and pub/sub channel name of this instance (appliance/redis_client.py): channels
# ignore REDIS_URL's database number, so two instances on one Redis need different prefixes.
FULCRUM_REDIS_PREFIX = os.environ.get("FULCRUM_REDIS_PREFIX", "fulcrum:")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ALWAYS_EAGER = _env_bool("FULCRUM_CELERY_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Privilege split: tasks named "kernel.<name>" need CAP_NET_ADMIN/NET_RAW and go to the "kernel" queue,
# consumed only by the privileged worker (celery worker -Q kernel); every other task stays on the
# default queue ("celery"), consumed by the unprivileged worker.
CELERY_TASK_ROUTES = {"kernel.*": {"queue": "kernel"}}
# Queueing must fail fast when Redis is down (an Apply answers 503 at once, not after ~19 s of retries).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Celery's queues and results carry the instance prefix too: two instances on one Redis never take each other's
# tasks (kombu's and the result backend's own key prefix option).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "global_keyprefix": FULCRUM_REDIS_PREFIX}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": FULCRUM_REDIS_PREFIX}
CELERY_TASK_PUBLISH_RETRY = False
# A queued apply nobody started within this many seconds, while no apply runs, is marked "worker lost".
FULCRUM_APPLY_QUEUE_SECONDS = float(os.environ.get("FULCRUM_APPLY_QUEUE_SECONDS", "60"))
# The whole schedule: nothing adds entries elsewhere.
CELERY_BEAT_SCHEDULE = {
    "drift-check": {"task": "kernel.drift_check", "schedule": float(os.environ.get("FULCRUM_DRIFT_SECONDS", "30"))},
    # The worker reads the kernel (CAP_NET_ADMIN) and publishes it; pages and the API read Redis.
    "publish-status": {"task": "kernel.publish_status", "schedule": 2.0},
    "sweep-stale-applies": {"task": "cluster.sweep_stale_runs", "schedule": 15.0},
    "reports-sample-stats": {"task": "reports.sample_stats",
                             "schedule": float(os.environ.get("FULCRUM_STATS_SECONDS", "10"))},
    "prune-history": {"task": "operations.prune_history", "schedule": 3600.0},
    # The HA peer heartbeat: reachability, and catching a returned peer up (idle when not paired).
    "ha-heartbeat": {"task": "ha.heartbeat", "schedule": 5.0},
    # Active-active members: retries when their backoff is over, and catch-up (idle without members).
    "members-check": {"task": "ha.members_check", "schedule": 2.0},
}

# Traffic statistics (reports/sampling.py): a history row per service at most this often, kept this long.
FULCRUM_STATS_HISTORY_SECONDS = int(os.environ.get("FULCRUM_STATS_HISTORY_SECONDS", "60"))
FULCRUM_STATS_RETENTION_HOURS = int(os.environ.get("FULCRUM_STATS_RETENTION_HOURS", "48"))

# How long history is kept (days), pruned hourly by operations/retention.py; the newest
# FULCRUM_RETENTION_KEEP_MIN rows of each kind stay whatever their age.
FULCRUM_RETENTION_DAYS = {
    "ha_events": int(os.environ.get("FULCRUM_RETENTION_HA_EVENTS_DAYS", "90")),
    "change_log": int(os.environ.get("FULCRUM_RETENTION_CHANGE_LOG_DAYS", "365")),
    "apply_runs": int(os.environ.get("FULCRUM_RETENTION_APPLY_RUNS_DAYS", "90")),
    "login_log": int(os.environ.get("FULCRUM_RETENTION_LOGIN_LOG_DAYS", "90")),
}
FULCRUM_RETENTION_KEEP_MIN = int(os.environ.get("FULCRUM_RETENTION_KEEP_MIN", "100"))

# External health-check scripts are run only from this directory (no shell, fixed argv).
FULCRUM_CHECK_SCRIPTS_DIR = Path(os.environ.get("FULCRUM_CHECK_SCRIPTS_DIR", DATA_DIR / "checks"))

# "auto": the kernel driver when this host has IPVS and the privilege to use it, else render-only.
FULCRUM_DATAPLANE = os.environ.get("FULCRUM_DATAPLANE", "auto")
# Active-active: the FRR pathspace (bgpd -N NAME) this appliance's routing daemons run in; "" = the
# host's one FRR. The kernel lab runs one FRR per member namespace. Read by cluster/bgp.py.
FRR_PATHSPACE = os.environ.get("FULCRUM_FRR_PATHSPACE", "")
FRR_RELOAD = os.environ.get("FULCRUM_FRR_RELOAD", "/usr/lib/frr/frr-reload.py")
VTYSH = os.environ.get("FULCRUM_VTYSH", "/usr/bin/vtysh")  # session state for the BGP page, API, /metrics
# The TCP port(s) the WebUI/API listen on, comma-separated: what the management lockdown guards.
FULCRUM_MGMT_PORTS = os.environ.get("FULCRUM_MGMT_PORTS", "443")
# Local Configuration of interfaces/routes: "auto" (owned on a kernel host outside a container), "yes", "no".
FULCRUM_MANAGE_NETWORK = os.environ.get("FULCRUM_MANAGE_NETWORK", "auto")

# The input gate's bound on a body (JSON or form), checked by Django before anything reads it.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_JSON_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "appliance.filtering.StrictFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    # JSON only: a form-encoded body would turn a missing boolean into False (e.g. a disabled service);
    # bodies bounded in size and depth (the input gate).
    "DEFAULT_PARSER_CLASSES": ["appliance.gate.GatedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",  # DRF's test client speaks what the API accepts
    "DEFAULT_PAGINATION_CLASS": "appliance.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "appliance.schema.FulcrumAutoSchema",
    "EXCEPTION_HANDLER": "appliance.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_FORMATTER_CLASS": "appliance.exceptions.ErrorFormatter",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "409", "412", "415", "429", "500"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fulcrum Layer 4 load balancer API",
    "DESCRIPTION": "Virtual services, real servers, cluster settings, apply and change log.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",  # tags: the first path part after it, one per resource
    # Stable enum names: a generated client's types must not be renamed by an unrelated change.
    "ENUM_NAME_OVERRIDES": {
        "HealthStateEnum": "realservers.models.HEALTH_STATES",
        "AdminStateEnum": "realservers.models.ADMIN_STATES",
        "UserRoleEnum": "accounts.roles.ROLE_CHOICES",
        "HaRoleEnum": "ha.models.ROLES",
        "CheckStatusEnum": "checklists.api.serializers.STATUSES",
    },
}

# The remote syslog target given in the environment (host:port), besides the stored ones (appliance/logs.py).
FULCRUM_SYSLOG = os.environ.get("FULCRUM_SYSLOG", "").strip()

EMAIL_BACKEND = os.environ.get("FULCRUM_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

from appliance.logs import logging_config  # noqa: E402
from operations.conf import email_settings, https_settings  # noqa: E402

globals().update(email_settings())
globals().update(https_settings())
LOGGING = logging_config()
