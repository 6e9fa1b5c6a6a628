"""deploy/k8s: both overlays build with kustomize and every object validates against the
Kubernetes OpenAPI schemas (strict: unknown fields are errors).

Validation uses `kubernetes-validate` (PyPI, a dev dependency: it vendors the Kubernetes JSON
schemas, so no network is needed; kubeconform is not packaged on PyPI or npm). Overlays are built
with `kubectl kustomize` (skipped when kubectl is not installed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
SERVICES = ("approval", "supervision", "notify", "portal")
CONSUMERS = ("approval", "supervision", "notify")


def build(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (it builds the kustomize overlays)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["dev", "prod"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return build(request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_validates_against_the_kubernetes_schemas(objects):
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught():
    deployment = next(o for o in build("dev") if o["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_each_service_has_probes_resources_a_budget_and_autoscaling(objects):
    deployments = by_kind(objects, "Deployment")
    budgets = by_kind(objects, "PodDisruptionBudget")
    autoscalers = by_kind(objects, "HorizontalPodAutoscaler")
    services = by_kind(objects, "Service")
    partitions = int(
        by_kind(objects, "ConfigMap")["platform-config"]["data"]["KAFKA_TOPIC_PARTITIONS"]
    )
    for name in SERVICES:
        container = deployments[f"{name}-svc"]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        assert f"{name}-svc" in budgets
        assert f"{name}-svc" in services
        hpa = autoscalers[f"{name}-svc"]["spec"]
        assert hpa["scaleTargetRef"]["name"] == f"{name}-svc"
        if name in CONSUMERS:
            assert hpa["maxReplicas"] <= partitions, "replicas beyond the partition count idle"


def test_each_database_service_has_a_migration_job(objects):
    jobs = by_kind(objects, "Job")
    for name in CONSUMERS:
        command = jobs[f"{name}-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command == ["python", "-m", f"{name}_svc", "migrate"]
    assert "create-topics" in jobs


def test_the_overlays_differ_where_they_should():
    dev, prod = build("dev"), build("prod")
    assert {o["metadata"].get("namespace") for o in dev if o["kind"] != "Namespace"} == {
        "platform-dev"
    }
    assert {o["metadata"].get("namespace") for o in prod if o["kind"] != "Namespace"} == {
        "platform"
    }
    assert "platform-secrets" in by_kind(dev, "Secret")
    assert not by_kind(prod, "Secret"), "prod secrets come from the cluster's secret store"
    assert all(d["spec"]["replicas"] == 3 for d in by_kind(prod, "Deployment").values())
