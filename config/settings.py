"""Settings for calcqueue, all read from the environment here and nowhere else.

With no variable set, the defaults suit a development machine: SQLite and the
embedded Redis server under the state directory. `CALCQUEUE_ENV=production`
removes every default that is unsafe in production and fails loudly instead.
"""

import secrets
from pathlib import Path

import environ
from celery.schedules import crontab
from kombu import Queue

from devstack.embedded_redis import embedded_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

ENVIRONMENT = env.str("CALCQUEUE_ENV", default="development")
if ENVIRONMENT not in {"development", "production"}:
    raise environ.ImproperlyConfigured(
        f"CALCQUEUE_ENV must be 'development' or 'production', not {ENVIRONMENT!r}"
    )
IS_PRODUCTION = ENVIRONMENT == "production"

# Local state of a development machine: SQLite file, embedded Redis data, dev secret.
STATE_DIR = Path(env.str("CALCQUEUE_STATE_DIR", default=str(BASE_DIR / "var"))).resolve()


def _development_secret_key() -> str:
    """Return a random key kept in the state directory, so no secret is ever committed."""
    key_file = STATE_DIR / "secret_key"
    if not key_file.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


if IS_PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_celery_beat",
    "calculations",
    "monitoring",
]

MIDDLEWARE = [
    # Outermost: its log line and HTTP metrics time every other middleware too.
    "monitoring.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "calculations.api.middleware.ProblemDetailsMiddleware",
]

if IS_PRODUCTION:
    # Static files straight after the HTTPS redirect, before sessions and the rest; in
    # development `runserver` serves them from the apps' folders.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database -----------------------------------------------------------------------------

SQLITE_BUSY_TIMEOUT_SECONDS = 30

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{STATE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Many worker processes write at once: WAL lets readers run beside the one writer,
    # IMMEDIATE takes the write lock when a transaction starts (so it waits on the busy
    # timeout instead of failing mid-transaction), and the timeout absorbs the queueing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not the in-memory default, so that worker processes started by the
    # integration tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(STATE_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery -----------------------------------------------------------------------

# Without REDIS_URL, the project's own Redis server (started by `make run` and the tests)
# listens on a unix socket in the state directory.
REDIS_URL = env.str("REDIS_URL", default="") or embedded_redis_url(STATE_DIR / "redis")

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# No result backend: the database row is the result.
CELERY_TASK_IGNORE_RESULT = True
# Two queues with their own worker processes (README, "Performance"): short work never waits
# behind long work. A worker started without -Q consumes both.
CALCQUEUE_LONG_QUEUE = "calculations"
CALCQUEUE_SHORT_QUEUE = "calculations.short"
CELERY_TASK_DEFAULT_QUEUE = CALCQUEUE_LONG_QUEUE
CELERY_TASK_QUEUES = [Queue(CALCQUEUE_LONG_QUEUE), Queue(CALCQUEUE_SHORT_QUEUE)]
# Housekeeping is short and must not wait behind long calculations.
CELERY_TASK_ROUTES = {
    "calculations.sweep": {"queue": CALCQUEUE_SHORT_QUEUE},
    "calculations.purge_idempotency_keys": {"queue": CALCQUEUE_SHORT_QUEUE},
    "calculations.purge_finished": {"queue": CALCQUEUE_SHORT_QUEUE},
    "monitoring.backup_database": {"queue": CALCQUEUE_SHORT_QUEUE},
}
# Estimated seconds of work below which a calculation is short; short calculations travel up
# to CALCQUEUE_CHUNK_SIZE per message (and at most about this much work per message).
CALCQUEUE_SHORT_WORK_SECONDS = env.float("CALCQUEUE_SHORT_WORK_SECONDS", default=0.05)
CALCQUEUE_CHUNK_SIZE = env.int("CALCQUEUE_CHUNK_SIZE", default=100)
# A message is acknowledged only after its task returns, and put back if the worker dies,
# so a crash mid-calculation delivers it again; each worker process reserves one at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env.int("CALCQUEUE_WORKER_CONCURRENCY", default=12)
# Processes of the short-work worker that `make run` starts next to the main one.
CALCQUEUE_SHORT_WORKER_CONCURRENCY = env.int("CALCQUEUE_SHORT_WORKER_CONCURRENCY", default=2)
# Niceness added to this worker's pool processes (`make run` gives the long-work worker 10).
CALCQUEUE_WORKER_NICE = env.int("CALCQUEUE_WORKER_NICE", default=0)
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Publishing must not hang a web request when Redis is down: fail within about 2 s, leave the
# row PENDING, and let the sweeper enqueue it once the broker is back.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.2,
}

# Time limits in seconds, "soft:hard" per equation (e.g. "fibonacci=60:90"); the soft limit
# stops a calculation with an error, the hard limit kills the worker process.
CALCQUEUE_DEFAULT_TIME_LIMITS = (
    env.int("CALCQUEUE_TASK_SOFT_TIME_LIMIT", default=540),
    env.int("CALCQUEUE_TASK_TIME_LIMIT", default=600),
)
CALCQUEUE_TIME_LIMITS = {
    key: tuple(int(part) for part in value.split(":"))
    for key, value in env.dict("CALCQUEUE_TIME_LIMITS", default={}).items()
}
_LONGEST_HARD_LIMIT = max(
    hard for _, hard in [CALCQUEUE_DEFAULT_TIME_LIMITS, *CALCQUEUE_TIME_LIMITS.values()]
)
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = CALCQUEUE_DEFAULT_TIME_LIMITS
# Redis hands an unacknowledged message to another worker after the visibility timeout;
# it must outlast the longest hard limit, or a running calculation would be delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * _LONGEST_HARD_LIMIT,
    "socket_connect_timeout": 1,
    "socket_timeout": 10,
}

# Reliability knobs (README, "Guarantees").
CALCQUEUE_MAX_ATTEMPTS = env.int("CALCQUEUE_MAX_ATTEMPTS", default=3)
CALCQUEUE_LEASE_SECONDS = env.float("CALCQUEUE_LEASE_SECONDS", default=30)
CALCQUEUE_HEARTBEAT_SECONDS = env.float("CALCQUEUE_HEARTBEAT_SECONDS", default=5)
CALCQUEUE_REQUEUE_AFTER_SECONDS = env.float("CALCQUEUE_REQUEUE_AFTER_SECONDS", default=15)
CALCQUEUE_SWEEP_INTERVAL_SECONDS = env.float("CALCQUEUE_SWEEP_INTERVAL_SECONDS", default=5)
CALCQUEUE_CANCEL_GRACE_SECONDS = env.float("CALCQUEUE_CANCEL_GRACE_SECONDS", default=1)
CALCQUEUE_PROGRESS_INTERVAL_SECONDS = env.float("CALCQUEUE_PROGRESS_INTERVAL_SECONDS", default=0.5)

# Finished calculations older than this are deleted by beat, in batches (0 keeps them all).
CALCQUEUE_RETENTION_DAYS = env.float("CALCQUEUE_RETENTION_DAYS", default=30)
# Nightly backups of the database (README, "Backups"), the newest CALCQUEUE_BACKUP_KEEP kept.
CALCQUEUE_BACKUP_DIR = Path(
    env.str("CALCQUEUE_BACKUP_DIR", default=str(STATE_DIR / "backups"))
).resolve()
CALCQUEUE_BACKUP_KEEP = env.int("CALCQUEUE_BACKUP_KEEP", default=7)
CALCQUEUE_BACKUP_HOUR = env.int("CALCQUEUE_BACKUP_HOUR", default=2)

# Beat keeps its schedule in the database (django-celery-beat), so that the admin shows every
# periodic task and can change or disable it. At each start beat writes the entries below into
# the database (their schedule and options; an entry disabled in the admin stays disabled), so
# the environment keeps the last word on intervals. "expire_seconds" is the database
# scheduler's name for a task's expiry: a run that waited longer than that is dropped.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-calculations": {
        "task": "calculations.sweep",
        "schedule": CALCQUEUE_SWEEP_INTERVAL_SECONDS,
        "options": {"expire_seconds": CALCQUEUE_SWEEP_INTERVAL_SECONDS},
    },
    "purge-idempotency-keys": {
        "task": "calculations.purge_idempotency_keys",
        "schedule": 3600,
        "options": {"expire_seconds": 3600},
    },
    "purge-finished-calculations": {
        "task": "calculations.purge_finished",
        "schedule": crontab(minute=17),
        "options": {"expire_seconds": 3600},
    },
    "backup-database": {
        "task": "monitoring.backup_database",
        "schedule": crontab(hour=CALCQUEUE_BACKUP_HOUR, minute=0),
        "options": {"expire_seconds": 6 * 3600},
    },
}
# No result backend, so no result clean-up task either.
CELERY_RESULT_EXPIRES = None

# --- Calculations ---------------------------------------------------------------------------

# Per-equation upper bounds on the input, e.g. CALCQUEUE_MAX_N="fibonacci=20000000".
CALCQUEUE_MAX_N = {
    key: int(value) for key, value in env.dict("CALCQUEUE_MAX_N", default={}).items()
}
CALCQUEUE_MAX_BATCH = env.int("CALCQUEUE_MAX_BATCH", default=100)
# The JSON API: calculations per request, digits of output inline in a response, and how long
# an Idempotency-Key is remembered.
CALCQUEUE_API_MAX_BATCH = env.int("CALCQUEUE_API_MAX_BATCH", default=1000)
CALCQUEUE_API_OUTPUT_DIGITS = env.int("CALCQUEUE_API_OUTPUT_DIGITS", default=10_000)
CALCQUEUE_IDEMPOTENCY_TTL_SECONDS = env.int("CALCQUEUE_IDEMPOTENCY_TTL_SECONDS", default=86_400)
CALCQUEUE_PAGE_SIZE = env.int("CALCQUEUE_PAGE_SIZE", default=25)

# --- Web ----------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(STATE_DIR / "static"))).resolve()
if IS_PRODUCTION:
    # WhiteNoise serves what `collectstatic` gathered, compressed, under names that change with
    # the content, so browsers may cache them for ever.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS (production): the app runs behind a TLS-terminating proxy (deploy/) that sets
# X-Forwarded-Proto and is the only way in; probes and Prometheus may use plain HTTP inside.
if env.bool("CALCQUEUE_BEHIND_TLS_PROXY", default=IS_PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Preload only tells browsers' preload lists that the site consents; nothing is listed until
# the domain's owner submits it.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- Operations (monitoring/) -----------------------------------------------------------------

# The dashboard is for staff; open to everyone by default in development only.
CALCQUEUE_DASHBOARD_PUBLIC = env.bool("CALCQUEUE_DASHBOARD_PUBLIC", default=not IS_PRODUCTION)
# Workers are asked with a broadcast that waits this long for answers; the answer is cached.
CALCQUEUE_INSPECT_TIMEOUT_SECONDS = env.float("CALCQUEUE_INSPECT_TIMEOUT_SECONDS", default=0.5)
CALCQUEUE_WORKERS_CACHE_SECONDS = env.float("CALCQUEUE_WORKERS_CACHE_SECONDS", default=3)
# Each check of /readyz answers within about this long.
CALCQUEUE_READY_TIMEOUT_SECONDS = env.float("CALCQUEUE_READY_TIMEOUT_SECONDS", default=1)
# When set, /metrics asks for "Authorization: Bearer <token>".
CALCQUEUE_METRICS_TOKEN = env.str("CALCQUEUE_METRICS_TOKEN", default="")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise environ.ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}")
_LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": _LOG_FIELDS},
        # One JSON object a line; the fields passed with `extra=` (calculation_id, status,
        # duration_ms, ...) become keys of their own.
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "format": _LOG_FIELDS},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
