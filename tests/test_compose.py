"""docker-compose.yml, the one image template and Prometheus' targets agree with shared.settings."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices

from services.cli import build_parser
from services.stack import SERVICES as SERVICE_DEFS
from shared.settings import (
    PlatformSettings,
    ServiceSettings,
    build_settings,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "service-entrypoint.sh"
# The portal has no database and no broker: its own checks are at the end of this file.
WITHOUT_DATABASE = {"portal-svc"}
SERVICES = {s.name: s.settings for s in SERVICE_DEFS if s.name not in WITHOUT_DATABASE}
# Every deployable, each an image of the one template deploy/Dockerfile.
IMAGES = {s.name: s.settings for s in SERVICE_DEFS}
RUNNER_TARGET = "runner"  # the template's stage of the root project (`python -m services`)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_names(cls: type[PlatformSettings]) -> set[str]:
    """The environment variable each field of `cls` is read from (its canonical name)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.add(str(alias.choices[0]).upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def interpolate(value: str) -> str:
    """What compose makes of `${VAR:-default}` / `${VAR:?error}` with nothing set."""

    def replace(match: re.Match[str]) -> str:
        if match["op"] and "?" in match["op"]:
            return "x" * 32
        return match["arg"] or ""

    return INTERPOLATION.sub(replace, value)


def ports(service: dict) -> list[tuple[str, str]]:
    pairs = []
    for spec in service.get("ports", []):
        host, _, container = interpolate(str(spec)).rpartition(":")
        pairs.append((host, container.split("/")[0]))
    return pairs


def test_the_expected_services_exist(compose):
    assert set(compose["services"]) == {
        "kafka",
        "postgres",
        "init-topics",
        "prometheus",
        "alertmanager",
        "grafana",
        "department-simulator",
        *SERVICES,
        *WITHOUT_DATABASE,
    }


def test_monitoring_is_provisioned_and_secrets_are_required(compose):
    grafana = compose["services"]["grafana"]
    mounts = " ".join(grafana["volumes"])
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning" in mounts
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards" in mounts
    assert "${GRAFANA_ADMIN_PASSWORD:?" in grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert "./deploy/alertmanager" in " ".join(compose["services"]["alertmanager"]["volumes"])
    assert compose["services"]["department-simulator"]["profiles"] == ["simulator"]
    postgres = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert postgres.startswith("${POSTGRES_PASSWORD:?")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_environment_names_are_settings(compose, name):
    cls = SERVICES[name]
    env = environment(compose["services"][name])
    unknown = set(env) - env_names(cls)
    assert not unknown, f"{name}: not settings of {cls.__name__}: {sorted(unknown)}"
    prefix = str(cls.model_config["env_prefix"])
    for required in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "PLATFORM_JWT_SECRET",
        "PLATFORM_CLOCK_EPOCH",
        "PLATFORM_DAY_SECONDS",
        f"{prefix}DATABASE_URL",
        f"{prefix}HOST",
        f"{prefix}PORT",
    ):
        assert required in env, f"{name} lacks {required}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_settings_load_from_compose_env(compose, name, monkeypatch):
    cls: type[ServiceSettings] = SERVICES[name]
    for key in env_names(cls):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment(compose["services"][name]).items():
        monkeypatch.setenv(key, interpolate(value))
    settings = build_settings(cls)
    assert settings.port == cls.default_port
    assert settings.host == "0.0.0.0"
    assert settings.bootstrap_servers == "kafka:19092"
    assert settings.clock_epoch is not None
    assert settings.require_jwt_secret()
    database = (settings.database_url or "").rsplit("/", 1)[-1]
    assert database == cls.service_name
    assert settings.resolved_database_url.startswith("postgresql://")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_port_dependencies_and_healthcheck(compose, name):
    cls = SERVICES[name]
    service = compose["services"][name]
    port = str(cls.default_port)
    assert ports(service) == [(port, port)]
    assert environment(service)[f"{cls.model_config['env_prefix']}PORT"] == port
    depends = service["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["init-topics"]["condition"] == "service_completed_successfully"
    test = " ".join(service["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in test
    assert service["build"] == {
        "context": ".",
        "dockerfile": "deploy/Dockerfile",
        "args": {"SERVICE": name, "PORT": port},
    }
    assert service["image"] == f"investment-platform/{name}:dev"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_stopping_service_gets_the_time_its_orderly_stop_takes(compose, name):
    # As long as in Kubernetes: the runtime's stop takes up to 35 s (README, Stopping), and
    # compose's own default of 10 s would kill a service halfway through it.
    manifest = (ROOT / "deploy" / "k8s" / "base" / f"{name.removesuffix('-svc')}.yaml").read_text()
    grace = [d for d in yaml.safe_load_all(manifest) if d and d.get("kind") == "Deployment"]
    seconds = grace[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert compose["services"][name]["stop_grace_period"] == f"{seconds}s"
    assert seconds >= 35


def test_no_service_keeps_a_dockerfile_of_its_own():
    assert TEMPLATE.is_file()
    for name in IMAGES:
        assert not (ROOT / name / "Dockerfile").exists(), f"{name}/Dockerfile is back"


def test_every_image_built_by_compose_comes_from_the_template(compose):
    built = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    assert set(IMAGES) <= set(built)
    for name, build in built.items():
        assert build["dockerfile"] == "deploy/Dockerfile", name
        if build.get("target") == RUNNER_TARGET:
            continue  # the root project: checked below
        assert "target" not in build, name  # the default target: one service
        assert (ROOT / build["args"]["SERVICE"] / "pyproject.toml").is_file(), name


def stage(name: str) -> str:
    """The text of one build stage of the template."""
    text = TEMPLATE.read_text()
    start = re.search(rf"^FROM \S+ AS {name}$", text, re.M)
    assert start, f"deploy/Dockerfile has no stage {name}"
    following = re.compile(r"^FROM ", re.M).search(text, start.end())
    return text[start.start() : following.start() if following else len(text)]


def test_the_simulator_image_holds_the_services_package(compose):
    simulator = compose["services"]["department-simulator"]
    assert simulator["build"]["target"] == RUNNER_TARGET
    assert simulator["image"] == "investment-platform/runner:dev"
    runner = stage(RUNNER_TARGET)
    # The root project and everything it depends on, installed from the lock.
    assert "COPY services services" in runner
    assert re.search(r"^RUN uv sync --locked --no-dev --no-editable$", runner, re.M)
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    sources = root["tool"]["uv"]["sources"]
    for dependency in root["project"]["dependencies"]:
        if dependency in sources:  # a workspace member: its sources must be in the image
            member = next(
                m
                for m in members
                if tomllib.loads((ROOT / m / "pyproject.toml").read_text())["project"]["name"]
                == dependency
            )
            assert f"COPY {member}/src {member}/src" in runner, f"{member} sources missing"
    # Its command is one the runner's CLI accepts, and the healthcheck imports what it runs.
    entrypoint = simulator["entrypoint"]
    assert entrypoint[:3] == ["python", "-m", "services"]
    assert (ROOT / "services" / "__main__.py").is_file()
    args = build_parser().parse_args(entrypoint[3:])
    assert args.command == "simulate-departments"
    assert "import services.simulate" in " ".join(simulator["healthcheck"]["test"])
    # The default target is still a service: the last stage, with the service build arguments.
    text = TEMPLATE.read_text()
    assert re.findall(r"^FROM .*$", text, re.M)[-1] == "FROM base AS service"
    assert "ARG SERVICE" not in runner


def test_the_image_template_takes_the_service_as_a_build_argument():
    text = TEMPLATE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert re.search(r"^ARG SERVICE$", text, re.M)
    assert re.search(r"^ARG PORT$", text, re.M)
    assert re.search(r"^EXPOSE \$\{PORT\}$", text, re.M)
    assert text.count('uv sync --locked --no-dev --package "$SERVICE"') == 2
    healthcheck = text[text.index("HEALTHCHECK") :]
    assert "/readyz" in healthcheck.split("\n\n")[0]
    assert re.search(r"^ENTRYPOINT \[\"/usr/local/bin/service-entrypoint\"\]$", text, re.M)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_image_template_copies_what_each_service_needs(name):
    text = TEMPLATE.read_text()
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M):
        path = source.replace("${SERVICE}", name)
        assert (ROOT / path).exists(), f"deploy/Dockerfile copies missing {path} for {name}"
    assert "COPY ${SERVICE}/src ${SERVICE}/src" in text
    # `uv sync --locked` checks the lock against every workspace member's metadata.
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    for member in workspace["members"]:
        assert f"COPY {member}/pyproject.toml {member}/" in text, f"{member} metadata missing"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_entrypoint_migrates_then_serves_on_the_images_port(name, tmp_path):
    cls = IMAGES[name]
    prefix = str(cls.model_config["env_prefix"])
    shim = tmp_path / "python"  # records how the entrypoint runs the service
    shim.write_text(
        f'#!/bin/sh\necho "$* host=${{{prefix}HOST}} port=${{{prefix}PORT}}" >> {tmp_path}/calls\n'
    )
    shim.chmod(0o755)
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "SERVICE": name, "SERVICE_PORT": "9999"}

    subprocess.run(["sh", str(ENTRYPOINT)], env=env, check=True, timeout=30)
    subprocess.run(
        ["sh", str(ENTRYPOINT)], env={**env, f"{prefix}PORT": "7000"}, check=True, timeout=30
    )

    package = name.replace("-", "_")
    assert (tmp_path / "calls").read_text().splitlines() == [
        f"-m {package} migrate host=0.0.0.0 port=9999",
        f"-m {package} serve host=0.0.0.0 port=9999",
        f"-m {package} migrate host=0.0.0.0 port=7000",
        f"-m {package} serve host=0.0.0.0 port=7000",
    ]


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name != "init-topics":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_kafka_is_kraft_and_advertises_the_bootstrap_address(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = environment(kafka)
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert "kafka-topics.sh" in " ".join(kafka["healthcheck"]["test"])
    bootstrap = environment(compose["services"]["approval-svc"])["KAFKA_BOOTSTRAP_SERVERS"]
    assert f"//{bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_postgres_creates_each_service_database(compose):
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    script = next(v.split(":")[0] for v in postgres["volumes"] if "initdb.d" in v)
    sql = (ROOT / script).read_text()
    for cls in SERVICES.values():
        assert f"CREATE DATABASE {cls.service_name};" in sql


def test_init_topics_creates_the_platform_topics(compose):
    init = compose["services"]["init-topics"]
    command = init.get("entrypoint", []) + init.get("command", [])
    assert command[:4] == ["python", "-m", "shared.broker", "create-topics"]
    assert set(environment(init)) <= env_names(PlatformSettings)
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init["build"] == compose["services"]["approval-svc"]["build"]
    assert init["image"] == compose["services"]["approval-svc"]["image"]


def test_prometheus_scrapes_every_service(compose):
    prometheus = compose["services"]["prometheus"]
    assert any(v.startswith("./deploy/prometheus:") for v in prometheus["volumes"])
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name, cls in SERVICES.items():
        assert f"{name}:{cls.default_port}" in targets


def test_portal_service_dockerfile_and_scrape(compose):
    from portal_svc.settings import PortalSettings

    portal = compose["services"]["portal-svc"]
    env = environment(portal)
    assert not set(env) - env_names(PortalSettings)
    assert ports(portal) == [("8000", "8000")]
    assert set(portal["depends_on"]) == set(SERVICES)
    assert "127.0.0.1:8000/readyz" in " ".join(portal["healthcheck"]["test"])
    assert portal["build"] == {
        "context": ".",
        "dockerfile": "deploy/Dockerfile",
        "args": {"SERVICE": "portal-svc", "PORT": "8000"},
    }
    assert not (ROOT / "portal-svc" / "Dockerfile").exists()
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t
        for j in config["scrape_configs"]
        for c in j.get("static_configs", [])
        for t in c["targets"]
    }
    assert "portal-svc:8000" in targets
