"""deploy/: the same processes in the Procfile, the systemd units and compose.yaml, each file
checked by the strictest tool this machine has, and the example environment passing
`check --deploy`."""

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import BASE_DIR

DEPLOY = BASE_DIR / "deploy"
# Every long-running process, as each deployment names it.
PROCESSES = {"web", "worker", "short-worker", "notify-worker", "beat", "flower"}
UNIT_OF = {
    "web": "calcqueue-web",
    "worker": "calcqueue-worker",
    "short-worker": "calcqueue-worker-short",
    "notify-worker": "calcqueue-worker-notify",
    "beat": "calcqueue-beat",
    "flower": "calcqueue-flower",
}
SHARED_METRICS = {"web", "worker", "short-worker"}  # Flower keeps its own metrics


def normalise(command: list[str]) -> list[str]:
    """A process's command without its launcher: env assignments, the venv path, the port
    and concurrency variables the deployments spell differently."""
    words = [w for w in command if w != "env" and not re.fullmatch(r"[A-Z_]+=\S*", w)]
    words[0] = Path(words[0]).name
    words = [re.sub(r"\$\{CALCQUEUE_SHORT_WORKER_CONCURRENCY(:-2)?\}", "2", w) for w in words]
    return [re.sub(r"\$\{CALCQUEUE_NOTIFY_WORKER_CONCURRENCY(:-4)?\}", "4", w) for w in words]


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name] = shlex.split(command)
    return entries


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings, each key with every value it is given."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / f"{name}.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_every_deployment_runs_the_same_commands():
    from_procfile = {name: normalise(procfile()[name]) for name in PROCESSES}
    from_units = {
        name: normalise(shlex.split(unit(UNIT_OF[name])["ExecStart"][0].replace("%%", "%")))
        for name in PROCESSES
    }
    from_compose = {name: normalise(compose()["services"][name]["command"]) for name in PROCESSES}
    assert from_procfile == from_units == from_compose
    assert from_procfile["worker"][-2:] == ["-Q", "calculations"]
    assert from_procfile["short-worker"][-4:] == ["-Q", "calculations.short", "-c", "2"]


def test_every_command_names_files_and_programs_that_exist():
    for name, command in procfile().items():
        program = normalise(command)[0]
        assert program == "python" or (Path(sys.executable).parent / program).exists(), name
        for word in command:
            if word.endswith(".py") or word.startswith("--conf="):
                assert (BASE_DIR / word.removeprefix("--conf=")).is_file(), (name, word)


def test_long_work_is_niced_and_metrics_are_shared_where_they_are_counted():
    assert "CALCQUEUE_WORKER_NICE=10" in procfile()["worker"]
    assert "CALCQUEUE_WORKER_NICE=10" in unit("calcqueue-worker")["Environment"]
    services = compose()["services"]
    assert services["worker"]["environment"]["CALCQUEUE_WORKER_NICE"] == "10"
    for name in PROCESSES:
        in_unit = any(
            v.startswith("PROMETHEUS_MULTIPROC_DIR=")
            for v in unit(UNIT_OF[name]).get("Environment", [])
        )
        in_compose = "PROMETHEUS_MULTIPROC_DIR" in services[name]["environment"]
        mounted = "metrics:/run/calcqueue-metrics" in services[name]["volumes"]
        assert in_unit == in_compose == mounted == (name in SHARED_METRICS), name


def test_systemd_units_escape_celerys_host_name_and_run_unprivileged():
    for name in PROCESSES:
        settings = unit(UNIT_OF[name])
        (exec_start,) = settings["ExecStart"]
        assert "%h" not in exec_start.replace("%%h", ""), "systemd would put a home dir there"
        assert settings["User"] == ["calcqueue"]
        assert settings["EnvironmentFile"] == ["/etc/calcqueue/calcqueue.env"]
        assert settings["Restart"] == ["always"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_units(tmp_path):
    # The units name /srv/calcqueue; here the checkout stands in, so ExecStart programs exist.
    for source in (DEPLOY / "systemd").glob("calcqueue*"):
        if source.suffix in {".service", ".target"}:
            text = source.read_text().replace("/srv/calcqueue", str(BASE_DIR))
            (tmp_path / source.name).write_text(text)
    units = sorted(str(path) for path in tmp_path.iterdir())
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == "", verified.stderr


def test_compose_services_volumes_and_dependencies_are_consistent():
    spec = compose()
    services = spec["services"]
    assert set(services) == PROCESSES | {"migrate", "redis", "postgres"}
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in spec["volumes"], (name, volume)
        if "build" in service:
            assert (DEPLOY / ".." / service["build"]["dockerfile"]).resolve().is_file()
            assert service["env_file"] == "calcqueue.env"
    for name in ("web", "redis", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert all(
        port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", [])
    )


def _compose_validator() -> list[str] | None:
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]  # Compose v1, which predates the top-level "name" key
    return None


def test_compose_file_validates_with_the_compose_client(tmp_path):
    validator = _compose_validator()
    if validator is None:
        pytest.skip("no compose client here (docker compose / docker-compose): parse-checked only")
    text = (DEPLOY / "compose.yaml").read_text()
    if validator == ["docker-compose"]:
        text = re.sub(r"(?m)^name: .*\n", "", text)
    (tmp_path / "compose.yaml").write_text(text)
    shutil.copy(DEPLOY / "calcqueue.env.example", tmp_path / "calcqueue.env")
    checked = subprocess.run(
        [*validator, "-f", "compose.yaml", "--env-file", "calcqueue.env", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    print(f"\n{' '.join(validator)} config: exit {checked.returncode}")
    assert checked.returncode == 0, checked.stderr


def example_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (DEPLOY / "calcqueue.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return dict(pairs)


def test_example_env_names_only_variables_something_reads():
    readers = "".join(
        path.read_text()
        for path in [BASE_DIR / "config" / "settings.py", *DEPLOY.rglob("*")]
        if path.is_file() and path.name != "calcqueue.env.example"
    )
    libraries = ("FLOWER_", "POSTGRES_", "WEB_CONCURRENCY", "GUNICORN_")
    for name in example_env():
        assert name.startswith(libraries) or f'"{name}"' in readers, name


def test_example_env_passes_check_deploy(tmp_path):
    env = {
        **os.environ,
        **example_env(),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CALCQUEUE_STATE_DIR": str(tmp_path),
    }
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
