"""One log line per request and per calculation; LOG_FORMAT=json makes each a JSON object."""

import json
import logging
import os
import subprocess
import sys

import pytest

from calculations import services
from calculations.claims import Claimant
from tests.calculations.factories import make_calculation
from tests.conftest import BASE_DIR


@pytest.mark.django_db
def test_request_log_line_has_method_path_status_and_duration(client, caplog):
    with caplog.at_level(logging.INFO, logger="calcqueue.request"):
        client.get("/healthz")
        client.get("/no-such-page")
    ok, missing = [r for r in caplog.records if r.name == "calcqueue.request"]
    assert ok.getMessage().startswith("request method=GET path=/healthz status=200 duration=")
    assert (ok.method, ok.path, ok.route, ok.status) == ("GET", "/healthz", "/healthz", 200)
    assert ok.duration_ms > 0
    assert (missing.status, missing.route) == (404, "<unmatched>")


@pytest.mark.django_db
def test_calculation_log_line_names_the_calculation(caplog):
    calculation = make_calculation(equation="fibonacci", n=10)
    with caplog.at_level(logging.INFO, logger="calculations.services"):
        services.calculation_run(
            calculation_id=calculation.pk, claimant=Claimant(node="log@test", pid=os.getpid())
        )
    (line,) = [r for r in caplog.records if getattr(r, "calculation_id", None)]
    assert line.getMessage().startswith(
        f"calculation id={calculation.pk} equation=fibonacci n=10 status=SUCCESS duration="
    )
    assert (line.calculation_id, line.status, line.digits) == (str(calculation.pk), "SUCCESS", 2)


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_json_writes_one_json_object_per_line():
    completed = run_django(
        "from django.test import Client; Client().get('/healthz')",
        LOG_FORMAT="json",
        ALLOWED_HOSTS="testserver",
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stderr.splitlines() if line.strip()]
    (request,) = [line for line in lines if line.get("name") == "calcqueue.request"]
    assert request["message"].startswith("request method=GET path=/healthz status=200")
    assert (request["method"], request["path"], request["status"]) == ("GET", "/healthz", 200)
    assert request["levelname"] == "INFO" and "asctime" in request and "duration_ms" in request


def test_log_format_refuses_an_unknown_format():
    completed = run_django("", LOG_FORMAT="xml")
    assert completed.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json', not 'xml'" in completed.stderr
