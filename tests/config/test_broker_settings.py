"""Settings chosen by the environment: each case imports config.settings in a fresh process
with its own variables, as a deployment would."""

import json
import os
import ssl
import subprocess
import sys

from tests.conftest import BASE_DIR

_PRINT = """
import json
import ssl
from config import settings as s
print(json.dumps({
    "broker": s.CELERY_BROKER_URL,
    "queues": {q.name: [q.exchange.type, q.queue_arguments] for q in s.CELERY_TASK_QUEUES},
    "transport": s.CELERY_BROKER_TRANSPORT_OPTIONS,
    "publish": s.CALCQUEUE_PUBLISH_OPTIONS,
    "database_options": s.DATABASES["default"].get("OPTIONS", {}),
    "broker_ssl": {k: str(v) for k, v in (getattr(s, "CELERY_BROKER_USE_SSL", None) or {}).items()},
}))
"""


def load_settings(**variables: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "BROKER_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", _PRINT],
        cwd=BASE_DIR,
        env=env | variables,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_with(**variables: str) -> dict:
    loaded = load_settings(**variables)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


def test_settings_broker_is_redis_url_with_a_visibility_timeout_of_twice_the_hard_limit():
    loaded = settings_with(REDIS_URL="redis://127.0.0.1:6379/3", CALCQUEUE_TASK_TIME_LIMIT="700")
    assert loaded["broker"] == "redis://127.0.0.1:6379/3"
    assert loaded["transport"]["visibility_timeout"] == 1400
    assert loaded["queues"]["calculations"][1] is None
    assert loaded["publish"] == {}


def test_settings_broker_url_rabbitmq_declares_quorum_queues_on_topic_exchanges():
    url = "amqp://guest:guest@127.0.0.1:5672/calcqueue"
    loaded = settings_with(REDIS_URL="redis://127.0.0.1:6379/3", BROKER_URL=url)
    assert loaded["broker"] == url
    assert loaded["queues"] == {
        "calculations": ["topic", {"x-queue-type": "quorum"}],
        "calculations.short": ["topic", {"x-queue-type": "quorum"}],
        "notifications": ["topic", {"x-queue-type": "quorum"}],
    }
    assert loaded["transport"] == {"confirm_publish": True}
    assert loaded["publish"] == {"confirm_timeout": 2}


def test_settings_refuse_a_hard_limit_rabbitmq_would_redeliver_while_it_runs():
    refused = load_settings(
        BROKER_URL="amqp://guest:guest@127.0.0.1:5672/calcqueue",
        CALCQUEUE_TIME_LIMITS="nth_prime=900:1000",
    )
    assert refused.returncode != 0
    assert "consumer_timeout of at least 2000 s" in refused.stderr
    raised = settings_with(
        BROKER_URL="amqp://guest:guest@127.0.0.1:5672/calcqueue",
        CALCQUEUE_TIME_LIMITS="nth_prime=900:1000",
        RABBITMQ_CONSUMER_TIMEOUT_SECONDS="2000",
    )
    assert raised["queues"]["calculations"][1] == {"x-queue-type": "quorum"}


def test_settings_postgresql_sessions_end_an_idle_transaction():
    database = "postgres://postgres@127.0.0.1:5432/calcqueue"
    loaded = settings_with(DATABASE_URL=database)
    assert loaded["database_options"]["options"] == "-c idle_in_transaction_session_timeout=60000"
    off = settings_with(DATABASE_URL=database, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT="0")
    assert "options" not in off["database_options"]


def test_settings_a_redis_broker_of_its_own_over_tls_verifies_its_certificate():
    loaded = settings_with(
        REDIS_URL="redis://127.0.0.1:6379/3",
        BROKER_URL="rediss://:s3cret@broker.example:6380/0",
        REDIS_TLS_CA_FILE="/etc/calcqueue/redis-ca.pem",
    )
    assert loaded["broker_ssl"] == {
        "ssl_cert_reqs": str(int(ssl.CERT_REQUIRED)),
        "ssl_ca_certs": "/etc/calcqueue/redis-ca.pem",
    }


def test_settings_a_plain_redis_broker_has_no_tls_options():
    loaded = settings_with(REDIS_URL="redis://127.0.0.1:6379/3")
    assert loaded["broker_ssl"] == {}
