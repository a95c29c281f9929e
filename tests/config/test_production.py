"""The production profile: `check --deploy` clean, secrets required, and gunicorn with
deploy/gunicorn.conf.py serving the static files through WhiteNoise behind HTTPS."""

import os
import re
import secrets
import subprocess
import sys

import httpx
import pytest

from devstack.processes import spawn, stop
from tests.conftest import BASE_DIR
from tests.monitoring.conftest import free_port, wait_for_http

HOST = "calcqueue.example.com"


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    (tmp_path / "state").mkdir()  # systemd's StateDirectory= or a compose volume in production
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return env | {
        "CALCQUEUE_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
        "CALCQUEUE_STATE_DIR": str(tmp_path / "state"),
        "CALCQUEUE_BASE_URL": f"https://{HOST}",
        "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example:587",
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_no_warning(production_env):
    checked = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # One silenced: security.W021 (HSTS preload is the domain owner's decision, settings.py).
    assert checked.stdout.strip() == "System check identified no issues (1 silenced)."


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_required_setting(production_env, missing):
    del production_env[missing]
    checked = manage("check", env=production_env)
    assert checked.returncode != 0
    assert f"Set the {missing} environment variable" in checked.stderr


@pytest.mark.integration
def test_gunicorn_serves_static_files_and_redirects_to_https_in_production(
    production_env, tmp_path
):
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        done = manage(*command, env=production_env)
        assert done.returncode == 0, done.stderr
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        web = spawn(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
            cwd=BASE_DIR,
            env=production_env | {"PORT": str(port), "WEB_CONCURRENCY": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/healthz", web, log)
        with httpx.Client(base_url=url, headers={"Host": HOST}) as http:
            # Probes and Prometheus may speak plain HTTP to the app; people are sent to HTTPS.
            assert http.get("/healthz").status_code == 200
            plain = http.get("/")
            assert plain.status_code == 301
            assert plain.headers["Location"] == f"https://{HOST}/"

            page = http.get("/", headers={"X-Forwarded-Proto": "https"})
            assert page.status_code == 200
            assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            stylesheet = re.search(
                r'href="(/static/calculations/app\.[0-9a-f]{12}\.css)"', page.text
            )
            assert stylesheet, "the page links the hashed name collectstatic made"
            css = http.get(
                stylesheet.group(1),
                headers={"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"},
            )
            assert css.status_code == 200
            assert css.headers["Content-Type"].startswith("text/css")
            assert css.headers["Content-Encoding"] == "gzip"
            assert "immutable" in css.headers["Cache-Control"]
            assert "--accent" in css.text
    finally:
        stop(web, grace=10)
