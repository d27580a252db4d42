"""deploy/Dockerfile and deploy/docker-compose.yml, without a container engine: the Dockerfile's
structure and hadolint's verdict; the compose file's services, mounts, ports, health checks and
secrets, and that its Consentry configuration is accepted with the secrets make-secrets.sh writes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from proxy.config import parse_config
from proxy.detection import DEFAULT_SPACY_MODEL
from tests.deploy_files import DEPLOY, DOCKERFILE, REPO, dockerfile_instructions
from tests.linters import require_linter

COMPOSE = DEPLOY / "docker-compose.yml"
VENV = "/opt/consentry/venv"


def test_dockerfile_builds_through_the_install_script_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    stages = [i.stage for i in instructions if i.keyword == "FROM"]
    assert stages == ["builder", "runtime"]
    runs = [i for i in instructions if i.keyword == "RUN" and i.stage == "builder"]
    assert len(runs) == 1 and re.search(rf"deploy/install\.sh {VENV} ", runs[0].arguments + " ")
    runtime = [i for i in instructions if i.stage == "runtime"]
    from_builder = [i.words() for i in runtime if i.keyword == "COPY" and "--from=builder" in i.arguments]
    assert from_builder == [["--from=builder", VENV, VENV]], "the venv keeps its path (not relocatable)"
    assert [i.arguments for i in runtime if i.keyword == "USER"] == ["10001:10001"]
    assert any(i.keyword == "RUN" and "--uid 10001" in i.arguments for i in runtime)
    (healthcheck,) = [i for i in runtime if i.keyword == "HEALTHCHECK"]
    assert "/opt/consentry/healthcheck.py" in healthcheck.arguments
    assert ["deploy/healthcheck.py", "/opt/consentry/healthcheck.py"] in [
        i.words() for i in runtime if i.keyword == "COPY"
    ]
    assert [i.arguments for i in runtime if i.keyword == "ENTRYPOINT"] == ['["consentry", "serve"]']


def test_dockerfile_model_arguments_default_to_the_declared_model() -> None:
    arguments = {
        i.arguments.split("=", 1)[0]: i.arguments.split("=", 1)[1]
        for i in dockerfile_instructions()
        if i.keyword == "ARG" and "=" in i.arguments
    }
    assert arguments["CONSENTRY_SPACY_MODEL"] == DEFAULT_SPACY_MODEL
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'"{arguments["SPACY_MODEL_PACKAGE"]}==' in pyproject
    install = (DEPLOY / "install.sh").read_text()
    assert f"default_package={arguments['SPACY_MODEL_PACKAGE']}" in install
    assert f"CONSENTRY_SPACY_MODEL:-{DEFAULT_SPACY_MODEL}" in install


def test_build_context_sends_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "everything else (the virtualenv, databases, keys) stays out of the context"
    for instruction in dockerfile_instructions():
        if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
            continue
        for source in instruction.words()[:-1]:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert source.rstrip("/") in allowed, f"COPY {source} is excluded by Dockerfile.dockerignore"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_linter("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hadolint_passes_the_dockerfile(tmp_path: Path) -> None:
    linted = hadolint(DOCKERFILE)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\nCMD python app.py\n")
    assert hadolint(careless).returncode != 0, "hadolint must reject a careless Dockerfile"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def make_secrets(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    subprocess.run(["sh", str(DEPLOY / "compose" / "make-secrets.sh"), str(folder)], check=True, timeout=60)
    return folder


def test_compose_services_health_checks_and_ports() -> None:
    services = compose()["services"]
    assert set(services) == {"consentry", "postgres", "prometheus", "grafana"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", f"{name} has no health check"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    proxy = services["consentry"]
    assert proxy["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (COMPOSE.parent / proxy["build"]["context"] / proxy["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert proxy["read_only"] is True and proxy["user"] == "10001:10001" and proxy["cap_drop"] == ["ALL"]
    assert any(t.startswith("/tmp") for t in proxy["tmpfs"])
    assert proxy["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert {p.split(":")[-1] for p in proxy["ports"]} == {"8080", "8081"}
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    assert {"targets": ["consentry:8080"]} in scrape[0]["static_configs"]


def test_compose_mounts_files_that_exist_and_provisions_grafana() -> None:
    services = compose()["services"]
    mounted: dict[str, str] = {}
    for service in services.values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{source} does not exist"
                mounted[target] = source
    assert mounted["/etc/prometheus/alerts.yml"] == "./prometheus/alerts.yml"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "consentry.yml").read_text()
    )["providers"][0]
    dashboards = COMPOSE.parent / mounted[provider["options"]["path"]]
    assert (dashboards / "consentry.json").exists()
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def test_compose_secrets_come_from_generated_files(tmp_path: Path) -> None:
    spec = compose()
    text = COMPOSE.read_text()
    for service in spec["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY|DSN", key):
                assert key.endswith("_FILE"), f"{key} is an inline secret"
                assert str(value).startswith("/run/secrets/")
    assert "CONSENTRY_HASH_KEY" not in text and "postgresql://" not in text
    folder = make_secrets(tmp_path)
    referenced = {Path(s["file"]).name for s in spec["secrets"].values()}
    referenced |= {Path(f).name for f in spec["services"]["consentry"]["env_file"]}
    assert all(Path(s["file"]).parent.name == "secrets" for s in spec["secrets"].values())
    assert {p.name for p in folder.iterdir()} == referenced
    assert (DEPLOY / "compose" / ".gitignore").read_text().split() == ["secrets/"]


def test_compose_configuration_is_accepted_with_generated_secrets(tmp_path: Path) -> None:
    folder = make_secrets(tmp_path)
    env = dict(
        line.split("=", 1) for line in (folder / "consentry.env").read_text().splitlines() if "=" in line
        if not line.startswith("#")
    )
    raw = yaml.safe_load((DEPLOY / "compose" / "consentry.yaml").read_text())
    config = parse_config(raw, env=env)
    password = (folder / "postgres_password").read_text().strip()
    assert config.ledger.backend == "postgres" and f":{password}@postgres:5432/" in config.ledger.dsn
    assert [a.key for a in config.apps] == [env["CONSENTRY_APP_BACKEND_KEY"]]
    assert [t.role for t in config.admin.tokens] == ["admin"]
    # Run again: existing secrets are kept, so a second run cannot lock the database out.
    before = (folder / "postgres_password").read_text()
    make_secrets(tmp_path)
    assert (folder / "postgres_password").read_text() == before
