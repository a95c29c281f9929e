"""Production settings, each in a fresh process as a deployment starts them: no secret, no
start; check --deploy clean; the security headers and cookies; Redis over TLS with a password."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import BASE_DIR

PRODUCTION = {
    "CALCQUEUE_ENV": "production",
    "SECRET_KEY": "a-test-secret-that-is-long-enough-and-random-enough-4f9c1e52b7d3a6",
    "ALLOWED_HOSTS": "testserver",
    "CALCQUEUE_BASE_URL": "https://calcqueue.example",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example:587",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr


def test_check_deploy_is_clean_in_production():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


HEADERS = """
from django.test import Client
response = Client().get("/account/login/", secure=True)
print(response.status_code)
for name in ("Strict-Transport-Security", "X-Frame-Options", "Content-Security-Policy",
             "X-Content-Type-Options", "Referrer-Policy"):
    print(name, "=", response.headers.get(name))
print(response.cookies["csrftoken"].output())
print(Client().get("/account/login/").status_code, "over http")
"""


def test_production_sends_hsts_frame_denial_csp_and_secure_httponly_cookies(tmp_path):
    # Production serves content-hashed static files, which collectstatic names.
    env = PRODUCTION | {"STATIC_ROOT": str(tmp_path / "static")}
    assert run(["manage.py", "collectstatic", "--noinput"], **env).returncode == 0
    result = run(["manage.py", "shell", "-c", HEADERS], **env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\n200\n" in f"\n{out}"
    assert "Strict-Transport-Security = max-age=31536000; includeSubDomains" in out
    assert "X-Frame-Options = DENY" in out
    policy = out.split("Content-Security-Policy = ")[1].splitlines()[0]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "X-Content-Type-Options = nosniff" in out
    csrf = out.split("Set-Cookie: ")[1].splitlines()[0]
    assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=Lax" in csrf
    assert "301 over http" in out  # SECURE_SSL_REDIRECT


# --- Redis with a password and TLS ------------------------------------------------------------

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _certificates(directory) -> None:
    """A CA and a server certificate for 127.0.0.1 signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.cnf",
            "-out", "server.pem")  # fmt: skip
    (directory / "other").mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
            "-keyout", "other/ca.key", "-out", "other/ca.pem")  # fmt: skip


@pytest.fixture
def tls_redis(tmp_path):
    if not REDIS_SERVER or not shutil.which("openssl"):
        pytest.skip("needs redis-server (built with TLS) and openssl")
    _certificates(tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no",
         "--requirepass", "s3cret", "--save", "", "--appendonly", "no"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.skip(f"this redis-server has no TLS: {process.stdout.read()[-300:]}")
            assert time.monotonic() < deadline, "the TLS Redis did not start"
            time.sleep(0.05)
    yield port, tmp_path
    process.terminate()
    process.wait(timeout=10)


USE_REDIS = """
from django.conf import settings
from django.core.cache import cache
from calculations import ratelimit
from config.celery_app import app

print("broker_use_ssl", sorted(settings.CELERY_BROKER_USE_SSL))
print("verdicts", [ratelimit.rate_limit_hit(scope="t", key="k", limit=1, period=60).allowed
                   for _ in range(2)])
with app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1)
    with connection.Producer() as producer:
        producer.publish({"ping": 1}, routing_key="tls-check", declare=[])
print("published over", connection.transport.driver_type)
"""


def test_redis_with_a_password_and_tls_serves_the_broker_and_the_rate_limits(tls_redis):
    port, directory = tls_redis
    url = f"rediss://:s3cret@127.0.0.1:{port}/0"
    result = run(
        ["manage.py", "shell", "-c", USE_REDIS],
        REDIS_URL=url,
        BROKER_URL="",  # Redis as the broker too, whichever broker this run of the suite uses.
        REDIS_TLS_CA_FILE=str(directory / "ca.pem"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "broker_use_ssl ['ssl_ca_certs', 'ssl_cert_reqs']" in result.stdout
    assert "verdicts [True, False]" in result.stdout  # counted in the TLS Redis
    assert "published over redis" in result.stdout


def test_redis_tls_refuses_a_server_certificate_it_cannot_verify(tls_redis, caplog):
    port, directory = tls_redis
    result = run(
        ["manage.py", "shell", "-c", USE_REDIS],
        REDIS_URL=f"rediss://:s3cret@127.0.0.1:{port}/0",
        BROKER_URL="",
        REDIS_TLS_CA_FILE=str(directory / "other" / "ca.pem"),
    )
    assert "certificate verify failed" in result.stderr + result.stdout
    assert "verdicts [True, False]" not in result.stdout


# --- Time limits ------------------------------------------------------------------------------


def time_limits(soft: str, hard: str, per_equation: str = "") -> subprocess.CompletedProcess:
    return run(
        ["manage.py", "check"],
        CALCQUEUE_TASK_SOFT_TIME_LIMIT=soft,
        CALCQUEUE_TASK_TIME_LIMIT=hard,
        CALCQUEUE_TIME_LIMITS=per_equation,
    )


@pytest.mark.parametrize("limits", ["fibonacci=90:60", "fibonacci=60:60"])
def test_time_limits_soft_at_or_above_hard_is_refused_for_an_equation(limits):
    result = time_limits("540", "600", f"factorial=30:60,{limits}")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"CALCQUEUE_TIME_LIMITS: {limits} has a soft limit of" in result.stderr
    assert "killed at the soft limit" in result.stderr


@pytest.mark.parametrize(("soft", "hard"), [("700", "600"), ("600", "600")])
def test_time_limits_soft_at_or_above_hard_is_refused_for_the_defaults(soft, hard):
    result = time_limits(soft, hard)
    assert result.returncode != 0
    assert (
        f"CALCQUEUE_TASK_SOFT_TIME_LIMIT={soft}, is not below the default hard one, "
        f"CALCQUEUE_TASK_TIME_LIMIT={hard}"
    ) in result.stderr


def test_time_limits_zero_soft_of_an_equation_is_the_default_and_refused_above_hard():
    # Celery applies the worker's default soft limit to a message whose soft limit is 0.
    result = time_limits("540", "600", "fibonacci=0:90")
    assert result.returncode != 0
    assert "fibonacci=0:90 has a soft limit of 0, which means the default one" in result.stderr
    assert "CALCQUEUE_TASK_SOFT_TIME_LIMIT=540" in result.stderr


@pytest.mark.parametrize("limits", ["fibonacci=60", "fibonacci=a:90", "fibonacci=1:2:3"])
def test_time_limits_not_soft_colon_hard_is_refused(limits):
    result = time_limits("540", "600", limits)
    assert result.returncode != 0
    assert f"CALCQUEUE_TIME_LIMITS: {limits} is not soft:hard" in result.stderr


@pytest.mark.parametrize(
    ("soft", "hard", "per_equation"),
    [
        ("540", "600", "fibonacci=59:60,factorial=0:600"),
        ("0", "600", "fibonacci=0:1,factorial=1:30"),  # 0: no soft limit
    ],
)
def test_time_limits_soft_below_hard_or_zero_is_accepted(soft, hard, per_equation):
    result = time_limits(soft, hard, per_equation)
    assert result.returncode == 0, result.stderr[-2000:]
