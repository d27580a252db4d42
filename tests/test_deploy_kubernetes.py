"""deploy/k8s: schema-valid against the Kubernetes API (kubernetes-validate ships the OpenAPI
schemas: offline, strict, so an unknown field fails), and the configuration, rules, secrets,
probes and security settings are the ones Consentry needs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from proxy.config import parse_config
from rules.loader import load_rules, parse_rules
from tests.deploy_files import K8S, REPO, manifest, manifests

# The oldest Kubernetes still commonly run, and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
PRESTOP_PAUSE_S = 5
FLUSH_S = 5  # the ledger's final flush after the drain (README, Durability and shutdown)


def container() -> dict[str, Any]:
    return manifest("Deployment", "consentry")["spec"]["template"]["spec"]["containers"][0]


def secret_keys() -> dict[str, str]:
    """Environment variable -> key in the Secret consentry-secrets."""
    found = {}
    for variable in container()["env"]:
        ref = variable["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "consentry-secrets"
        found[variable["name"]] = ref["key"]
    return found


def fake_secret(key: str) -> str:
    if key == "db-dsn":
        return "postgresql://consentry:pw@postgres.db.svc:5432/consentry"
    return f"{key}-value-0123456789abcdef"  # long enough for app keys (16) and admin tokens (24)


def deployed_config() -> Any:
    data = manifest("ConfigMap", "consentry-config")["data"]
    env = {variable: fake_secret(key) for variable, key in secret_keys().items()}
    return parse_config(yaml.safe_load(data["consentry.yaml"]), env=env)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_are_valid_kubernetes_objects(version: str) -> None:
    objects = manifests()
    assert {o["kind"] for o in objects} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validation_rejects_a_misspelt_field() -> None:
    broken = manifest("Deployment", "consentry")
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_configmap_is_accepted_by_consentry_with_the_secrets_wired() -> None:
    config = deployed_config()
    keys = {variable: fake_secret(key) for variable, key in secret_keys().items()}
    assert config.host == "0.0.0.0" and config.port == 8080
    assert config.hash_key == keys["CONSENTRY_HASH_KEY"].encode()
    assert [(a.name, a.key) for a in config.apps] == [("backend", keys["CONSENTRY_APP_BACKEND_KEY"])]
    assert config.ledger.backend == "postgres" and config.ledger.dsn == keys["CONSENTRY_DB_DSN"]
    assert config.provider("openai").api_key == keys["CONSENTRY_OPENAI_API_KEY"]
    tokens = {t.name: (t.role, t.token_sha256) for t in config.admin.tokens}
    assert tokens == {
        "ops": ("admin", hashlib.sha256(keys["CONSENTRY_ADMIN_TOKEN_OPS"].encode()).hexdigest()),
        "auditor": ("reader", hashlib.sha256(keys["CONSENTRY_ADMIN_TOKEN_AUDITOR"].encode()).hexdigest()),
    }
    # No generated token file or key file: a read-only pod has nothing to write them beside.
    assert config.admin.token_file == ""
    assert config.rules_path == "/etc/consentry/rules.yaml"
    raw = yaml.safe_load(manifest("ConfigMap", "consentry-config")["data"]["consentry.yaml"])
    assert raw["server"]["workers"] == 1, "one serving process per pod; the HPA scales pods"


def test_configmap_rules_parse_and_keep_the_bundled_default() -> None:
    document = yaml.safe_load(manifest("ConfigMap", "consentry-config")["data"]["rules.yaml"])
    rules = parse_rules(document)
    bundled = load_rules(REPO / "rules" / "default.yaml")
    assert rules.version == bundled.version
    assert yaml.safe_load((REPO / "rules" / "default.yaml").read_text())["default"] == document["default"]


def test_pod_runs_non_root_read_only_without_capabilities() -> None:
    pod = manifest("Deployment", "consentry")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/data"]] and "emptyDir" in volumes[mounts["/tmp"]]
    config_volume = volumes[mounts["/etc/consentry"]]
    assert config_volume["configMap"]["name"] == "consentry-config"
    # No subPath: the kubelet updates a mounted directory, so rules reload without a restart.
    assert all("subPath" not in m for m in container()["volumeMounts"])
    resources = container()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_probes_and_grace_period_fit_the_drain() -> None:
    spec = container()
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {"http": 8080, "admin": 8081}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert spec[probe]["httpGet"]["port"] == "http"
    config = deployed_config()
    pod = manifest("Deployment", "consentry")["spec"]["template"]["spec"]
    assert spec["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", str(PRESTOP_PAUSE_S)]
    assert pod["terminationGracePeriodSeconds"] >= PRESTOP_PAUSE_S + config.drain_timeout_s + 10
    assert pod["terminationGracePeriodSeconds"] >= PRESTOP_PAUSE_S + config.drain_timeout_s + FLUSH_S


def test_detector_workers_match_the_cpu_request() -> None:
    # `auto` would count the node's cores: each worker holds a model, so memory would follow them.
    assert deployed_config().detection.workers == int(container()["resources"]["requests"]["cpu"])


def test_services_expose_the_proxy_and_keep_admin_separate() -> None:
    proxy = manifest("Service", "consentry")["spec"]
    admin = manifest("Service", "consentry-admin")["spec"]
    assert [p["port"] for p in proxy["ports"]] == [8080]
    assert [p["port"] for p in admin["ports"]] == [8081]
    assert proxy.get("type", "ClusterIP") == "ClusterIP" and admin.get("type", "ClusterIP") == "ClusterIP"
    policy = manifest("NetworkPolicy", "consentry")["spec"]
    admin_rules = [r for r in policy["ingress"] if any(p["port"] == 8081 for p in r["ports"])]
    assert len(admin_rules) == 1 and admin_rules[0]["from"], "the admin port is open only to chosen pods"


def test_autoscaler_and_disruption_budget_target_the_deployment() -> None:
    hpa = manifest("HorizontalPodAutoscaler", "consentry")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consentry"}
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in manifest("Deployment", "consentry")["spec"], "the HPA owns the count"
    pdb = manifest("PodDisruptionBudget", "consentry")["spec"]
    pod_labels = manifest("Deployment", "consentry")["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["maxUnavailable"] < hpa["minReplicas"]


def test_readme_creates_the_secret_the_deployment_reads() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    created = set(re.findall(r"--from-literal=([a-z0-9-]+)=", section))
    required = {
        v["valueFrom"]["secretKeyRef"]["key"]
        for v in container()["env"]
        if not v["valueFrom"]["secretKeyRef"].get("optional")
    }
    assert required <= created, f"README does not create {sorted(required - created)}"
    unused = created - set(secret_keys().values())
    assert not unused, f"README creates keys the Deployment never reads: {sorted(unused)}"


def test_manifest_files_carry_no_secret_values() -> None:
    text = "\n".join(p.read_text() for p in Path(K8S).glob("*.yaml"))
    assert "kind: Secret" not in text
    assert not re.search(r"(?i)(token|password|api_key|hash_key|dsn)\s*:\s*['\"]?[A-Za-z0-9+/_-]{12,}", text)
