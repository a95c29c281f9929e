"""Settings for calcqueue, all read from the environment here and nowhere else.

With no variable set, the defaults suit a development machine: SQLite and the
embedded Redis server under the state directory. `CALCQUEUE_ENV=production`
removes every default that is unsafe in production and fails loudly instead.
"""

import re
import secrets
import ssl
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from kombu import Exchange, Queue

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
    "csp",
    "django_celery_beat",
    "accounts",
    "calculations",
    "monitoring",
    "notifications",
]

MIDDLEWARE = [
    # Outermost: its log line and HTTP metrics time every other middleware too.
    "monitoring.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
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
                "accounts.context_processors.accounts",
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
    # A worker host cut off from the network in the middle of a transaction would keep its
    # row locks, and every claim waiting on them, until PostgreSQL noticed the dead peer
    # (TCP keepalive: hours). No transaction here waits on its client for long; behind a
    # pooler that refuses startup options, set 0 and use the pooler's own idle timeout.
    _idle_seconds = env.float("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", default=60)
    if _idle_seconds:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = (
            f"{_options.get('options', '')} "
            f"-c idle_in_transaction_session_timeout={int(_idle_seconds * 1000)}"
        ).strip()
# Persistent connections, on SQLite too: opening one (and its PRAGMAs) cost a short
# calculation about 2 ms, more than its maths. One per thread: a worker holds one per pool
# process and one for its lease keeper, a web server one per thread (README, "Scaling out").
# Health checks drop a broken one before use.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker and Celery ----------------------------------------------------------------------

# Without REDIS_URL, the project's own Redis server (started by `make run` and the tests)
# listens on a unix socket in the state directory.
REDIS_URL = env.str("REDIS_URL", default="") or embedded_redis_url(STATE_DIR / "redis")

# The broker is Redis unless BROKER_URL names another one: `amqp://user:pass@host:5672/vhost`
# for RabbitMQ (README, "Scaling out"). Redis stays REDIS_URL for everything else.
CELERY_BROKER_URL = env.str("BROKER_URL", default="") or REDIS_URL
BROKER_IS_RABBITMQ = CELERY_BROKER_URL.partition("://")[0] in {"amqp", "amqps", "pyamqp"}
# rediss:// (TLS): the server's certificate is always verified, against the system's CAs or
# REDIS_TLS_CA_FILE. A password goes in the URL: rediss://:password@host:6380/0.
REDIS_TLS_CA_FILE = env.str("REDIS_TLS_CA_FILE", default="")


def _redis_tls_options(url: str) -> dict:
    if not url.startswith("rediss://"):
        return {}
    return {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        **({"ssl_ca_certs": REDIS_TLS_CA_FILE} if REDIS_TLS_CA_FILE else {}),
    }


_REDIS_TLS_OPTIONS = _redis_tls_options(REDIS_URL)
# The broker's own URL decides: a Redis broker apart from REDIS_URL may use TLS on its own.
if CELERY_BROKER_URL.startswith("rediss://"):
    CELERY_BROKER_USE_SSL = _redis_tls_options(CELERY_BROKER_URL)
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
# Notifications wait on other servers (SMTP, webhook receivers): they get their own queue and
# worker, so that a receiver that hangs never holds up a calculation.
CALCQUEUE_NOTIFY_QUEUE = "notifications"


def _task_queue(name: str) -> Queue:
    if not BROKER_IS_RABBITMQ:
        return Queue(name)
    # RabbitMQ: quorum queues (replicated, durable, publisher-confirmed), each on its own
    # topic exchange, because Celery's native delayed delivery (how a countdown retry waits
    # without holding a worker's prefetch slot) cannot route through a direct exchange.
    return Queue(
        name,
        Exchange(name, type="topic"),
        routing_key=name,
        queue_arguments={"x-queue-type": "quorum"},
    )


CELERY_TASK_QUEUES = [
    _task_queue(CALCQUEUE_LONG_QUEUE),
    _task_queue(CALCQUEUE_SHORT_QUEUE),
    _task_queue(CALCQUEUE_NOTIFY_QUEUE),
]
# Housekeeping is short and must not wait behind long calculations.
CELERY_TASK_ROUTES = {
    "calculations.sweep": {"queue": CALCQUEUE_SHORT_QUEUE},
    "calculations.purge_idempotency_keys": {"queue": CALCQUEUE_SHORT_QUEUE},
    "calculations.purge_finished": {"queue": CALCQUEUE_SHORT_QUEUE},
    "monitoring.backup_database": {"queue": CALCQUEUE_SHORT_QUEUE},
    "notifications.*": {"queue": CALCQUEUE_NOTIFY_QUEUE},
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
# Threads of the notification worker that `make run` starts (deliveries wait on the network).
CALCQUEUE_NOTIFY_WORKER_CONCURRENCY = env.int("CALCQUEUE_NOTIFY_WORKER_CONCURRENCY", default=4)
# Niceness added to this worker's pool processes (`make run` gives the long-work worker 10).
CALCQUEUE_WORKER_NICE = env.int("CALCQUEUE_WORKER_NICE", default=0)
# Workers report task events (Flower reads them; the dashboard asks the workers with inspect).
# No "task-sent" event from the publisher: it doubled the cost of publishing a message, and the
# row already says PENDING.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection around every task unless told to
# reuse them; config/celery_app.py closes only obsolete or broken ones instead, as Django
# does around a request, so CONN_MAX_AGE applies to workers too.
CELERY_DB_REUSE_MAX = 2**31

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


def _time_limits(key: str, value: str) -> tuple[int, int]:
    """One equation's "soft:hard" as two whole numbers of seconds."""
    try:
        soft, hard = (int(part) for part in value.split(":"))
    except ValueError:
        raise environ.ImproperlyConfigured(
            f"CALCQUEUE_TIME_LIMITS: {key}={value} is not soft:hard in whole seconds, "
            f"like {key}=60:90"
        ) from None
    return soft, hard


def _refuse_soft_limits_not_below_hard(
    defaults: tuple[int, int], per_equation: dict[str, tuple[int, int]]
) -> None:
    """Raise ImproperlyConfigured where a soft limit other than 0 (none) is at or above its
    hard limit: the defaults', or an equation's."""
    # Celery's prefork pool starts the hard timer only when the soft one fires, for the
    # remaining (hard - soft) seconds: the process would be killed at the soft limit, before
    # the soft limit's error could be stored.
    why = (
        "Celery's prefork pool starts the hard timer only when the soft one fires, so the "
        "process would be killed at the soft limit"
    )
    default_soft, default_hard = defaults
    if default_soft and default_soft >= default_hard:
        raise environ.ImproperlyConfigured(
            f"the default soft time limit, CALCQUEUE_TASK_SOFT_TIME_LIMIT={default_soft}, is not "
            f"below the default hard one, CALCQUEUE_TASK_TIME_LIMIT={default_hard}: {why}. "
            "Lower the soft limit, or set it to 0 for none."
        )
    for key, (soft, hard) in per_equation.items():
        if soft and soft >= hard:
            raise environ.ImproperlyConfigured(
                f"CALCQUEUE_TIME_LIMITS: {key}={soft}:{hard} has a soft limit of {soft} s, not "
                f"below its hard limit of {hard} s: {why}. Lower the soft limit."
            )
        # A message's soft limit of 0 is none to Celery, which then applies the worker's
        # default: the equation runs under the default soft limit.
        if not soft and default_soft and default_soft >= hard:
            raise environ.ImproperlyConfigured(
                f"CALCQUEUE_TIME_LIMITS: {key}={soft}:{hard} has a soft limit of 0, which means "
                f"the default one, CALCQUEUE_TASK_SOFT_TIME_LIMIT={default_soft}, not below its "
                f"hard limit of {hard} s: {why}. Give {key} a soft limit below {hard}, or set "
                "CALCQUEUE_TASK_SOFT_TIME_LIMIT=0 for no soft limit."
            )


CALCQUEUE_TIME_LIMITS = {
    key: _time_limits(key, value)
    for key, value in env.dict("CALCQUEUE_TIME_LIMITS", default={}).items()
}
_refuse_soft_limits_not_below_hard(CALCQUEUE_DEFAULT_TIME_LIMITS, CALCQUEUE_TIME_LIMITS)
_LONGEST_HARD_LIMIT = max(
    hard for _, hard in [CALCQUEUE_DEFAULT_TIME_LIMITS, *CALCQUEUE_TIME_LIMITS.values()]
)
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = CALCQUEUE_DEFAULT_TIME_LIMITS
if BROKER_IS_RABBITMQ:
    # Quorum queues need publisher confirms; a publish waits for the broker's confirm at most
    # this long (a blocked or leaderless broker must not hang a web request either).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    CALCQUEUE_PUBLISH_OPTIONS = {"confirm_timeout": 2}
    # RabbitMQ closes a consumer's channel when a delivery stays unacknowledged longer than
    # its consumer_timeout (the server's setting, 30 min by default), and delivers it again.
    # With late acknowledgement a delivery stays unacknowledged while it waits for a pool
    # process (at most one hard limit: the calculation before it) and while it runs (at most
    # another): twice the longest hard limit must fit, as with Redis's visibility timeout.
    RABBITMQ_CONSUMER_TIMEOUT_SECONDS = env.int("RABBITMQ_CONSUMER_TIMEOUT_SECONDS", default=1800)
    if 2 * _LONGEST_HARD_LIMIT > RABBITMQ_CONSUMER_TIMEOUT_SECONDS:
        raise environ.ImproperlyConfigured(
            f"a hard time limit of {_LONGEST_HARD_LIMIT} s needs RabbitMQ's consumer_timeout "
            f"of at least {2 * _LONGEST_HARD_LIMIT} s (raise consumer_timeout in rabbitmq.conf "
            "and set RABBITMQ_CONSUMER_TIMEOUT_SECONDS to it)"
        )
else:
    # Redis hands an unacknowledged message to another worker after the visibility timeout;
    # it must outlast the longest hard limit, or a running calculation would be delivered
    # twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 2 * _LONGEST_HARD_LIMIT,
        "socket_connect_timeout": 1,
        "socket_timeout": 10,
    }
    CALCQUEUE_PUBLISH_OPTIONS = {}

# Reliability knobs (README, "Guarantees").
CALCQUEUE_MAX_ATTEMPTS = env.int("CALCQUEUE_MAX_ATTEMPTS", default=3)
CALCQUEUE_LEASE_SECONDS = env.float("CALCQUEUE_LEASE_SECONDS", default=30)
CALCQUEUE_HEARTBEAT_SECONDS = env.float("CALCQUEUE_HEARTBEAT_SECONDS", default=5)
CALCQUEUE_REQUEUE_AFTER_SECONDS = env.float("CALCQUEUE_REQUEUE_AFTER_SECONDS", default=15)
CALCQUEUE_SWEEP_INTERVAL_SECONDS = env.float("CALCQUEUE_SWEEP_INTERVAL_SECONDS", default=5)
CALCQUEUE_CANCEL_GRACE_SECONDS = env.float("CALCQUEUE_CANCEL_GRACE_SECONDS", default=1)
CALCQUEUE_PROGRESS_INTERVAL_SECONDS = env.float("CALCQUEUE_PROGRESS_INTERVAL_SECONDS", default=0.5)

# --- Notifications (README, "Notifications") --------------------------------------------------

# Links in emails and webhook events are absolute: the address users reach the site at.
CALCQUEUE_BASE_URL = env.str(
    "CALCQUEUE_BASE_URL", **({} if IS_PRODUCTION else {"default": "http://127.0.0.1:8000"})
).rstrip("/")
# Email to any address given (not only a signed-in user's own): off in production, where it
# would let anyone make the service mail a stranger.
CALCQUEUE_NOTIFY_ANY_EMAIL = env.bool("CALCQUEUE_NOTIFY_ANY_EMAIL", default=not IS_PRODUCTION)
# Email: the console in development; in production e.g. EMAIL_URL=smtp+tls://user:pass@host:587.
EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", **({} if IS_PRODUCTION else {"default": "consolemail://"})
)
vars().update(EMAIL_CONFIG)  # EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_USE_TLS, ...
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="calcqueue <calcqueue@localhost>")
# Webhook receivers: hosts (names or literal addresses, as in the URL) exempt from the
# private/loopback refusal, for development and tests, e.g. "127.0.0.1,localhost".
CALCQUEUE_WEBHOOK_ALLOWED_HOSTS = env.list("CALCQUEUE_WEBHOOK_ALLOWED_HOSTS", default=[])
CALCQUEUE_WEBHOOK_DNS_TIMEOUT_SECONDS = env.float(
    "CALCQUEUE_WEBHOOK_DNS_TIMEOUT_SECONDS", default=2
)
CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float(
    "CALCQUEUE_WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=5
)
CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS = env.float(
    "CALCQUEUE_WEBHOOK_READ_TIMEOUT_SECONDS", default=10
)
# Deliveries (email and webhook) that fail transiently are tried again after
# BACKOFF × 2^(attempt − 1) seconds, at most BACKOFF_MAX, times a random 0.5–1 (jitter),
# up to MAX_ATTEMPTS attempts: with the defaults, 8 attempts over at most 20.5 minutes.
CALCQUEUE_NOTIFY_MAX_ATTEMPTS = env.int("CALCQUEUE_NOTIFY_MAX_ATTEMPTS", default=8)
CALCQUEUE_NOTIFY_BACKOFF_SECONDS = env.float("CALCQUEUE_NOTIFY_BACKOFF_SECONDS", default=10)
CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS = env.float(
    "CALCQUEUE_NOTIFY_BACKOFF_MAX_SECONDS", default=600
)
# A delivery claimed by a worker that then died is tried again after this long; it must
# outlast one attempt (connect + read timeouts, or the SMTP timeout).
CALCQUEUE_NOTIFY_LEASE_SECONDS = env.float("CALCQUEUE_NOTIFY_LEASE_SECONDS", default=60)
# The notification sweeper: creates deliveries whose message was lost and re-sends
# deliveries due longer ago than REQUEUE_AFTER.
CALCQUEUE_NOTIFY_SWEEP_INTERVAL_SECONDS = env.float(
    "CALCQUEUE_NOTIFY_SWEEP_INTERVAL_SECONDS", default=10
)
CALCQUEUE_NOTIFY_REQUEUE_AFTER_SECONDS = env.float(
    "CALCQUEUE_NOTIFY_REQUEUE_AFTER_SECONDS", default=30
)


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
    "sweep-notifications": {
        "task": "notifications.sweep",
        "schedule": CALCQUEUE_NOTIFY_SWEEP_INTERVAL_SECONDS,
        "options": {"expire_seconds": CALCQUEUE_NOTIFY_SWEEP_INTERVAL_SECONDS},
    },
}

# The cache holds the rate limits' counters, in the same Redis under its own key prefix (never
# call cache.clear(): on Redis it is FLUSHDB, which would empty the queues too). A short
# timeout: when Redis is down, submissions go on without a rate limit (calculations.ratelimit).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": re.sub(r"^redis\+socket://", "unix://", REDIS_URL),
        "KEY_PREFIX": "calcqueue:cache",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1, **_REDIS_TLS_OPTIONS},
    }
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

# --- Callers and cost limits (README, "Accounts and limits") ------------------------------------

CALCQUEUE_ALLOW_ANONYMOUS = env.bool("CALCQUEUE_ALLOW_ANONYMOUS", default=True)
CALCQUEUE_SIGNUP_ENABLED = env.bool("CALCQUEUE_SIGNUP_ENABLED", default=True)
# Anonymous callers' bounds on n, e.g. "fibonacci=1000000"; an equation not named gets a tenth
# of the signed-in bound (calculations.validation).
CALCQUEUE_ANON_MAX_N = {
    key: int(value) for key, value in env.dict("CALCQUEUE_ANON_MAX_N", default={}).items()
}


def _rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate such as "30/m" or "5/10s" as (requests, seconds); None for "off"."""
    value = env.str(name, default=default).strip()
    if value.lower() in {"off", "0", ""}:
        return None
    found = re.fullmatch(r"(\d+)/(\d*)([smh])", value)
    if not found:
        raise environ.ImproperlyConfigured(f"{name} must look like 30/m or 5/10s, not {value!r}")
    count, multiple, unit = found.groups()
    return int(count), int(multiple or 1) * {"s": 1, "m": 60, "h": 3600}[unit]


# Submissions (form posts, API submissions and retries) per caller: by user, else by client
# address. A batch counts once; its size is bounded by CALCQUEUE_MAX_BATCH / _API_MAX_BATCH.
CALCQUEUE_RATE_LIMIT_ANONYMOUS = _rate("CALCQUEUE_RATE_LIMIT_ANONYMOUS", "30/m")
CALCQUEUE_RATE_LIMIT_SIGNED_IN = _rate("CALCQUEUE_RATE_LIMIT_SIGNED_IN", "120/m")
# Reverse proxies in front of the web server that append to X-Forwarded-For (0: none, the
# client address is REMOTE_ADDR). Set it exactly: one more lets clients choose their address.
CALCQUEUE_TRUSTED_PROXIES = env.int("CALCQUEUE_TRUSTED_PROXIES", default=0)
# Backpressure: refuse submissions (503) while this many calculations are unfinished, or while
# the oldest PENDING one has waited this long; 0 switches a bound off.
CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED = env.int(
    "CALCQUEUE_BACKPRESSURE_MAX_UNFINISHED", default=10_000
)
CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS = env.float(
    "CALCQUEUE_BACKPRESSURE_MAX_WAIT_SECONDS", default=600
)
CALCQUEUE_BACKPRESSURE_RETRY_AFTER_SECONDS = env.int(
    "CALCQUEUE_BACKPRESSURE_RETRY_AFTER_SECONDS", default=30
)

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "calculations:list"
LOGOUT_REDIRECT_URL = "calculations:list"

# --- Security headers and cookies -------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = IS_PRODUCTION
SESSION_COOKIE_SAMESITE = "Lax"
# No script reads the CSRF cookie: forms carry the token, and the API docs page gets it in
# its HTML.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Asking browsers to hard-code HTTPS for the domain (the preload list) is the domain owner's
# decision, so it is off by default and check --deploy's reminder about it is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if CALCQUEUE_TRUSTED_PROXIES:
    # The proxy terminates TLS and says so; without a proxy the header is the client's word.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes and Prometheus reach the app over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Every page runs only the project's own scripts and styles (htmx's inline indicator styles
# are switched off in base.html); no inline script, no eval, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# --- Operations (monitoring/) -----------------------------------------------------------------

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
