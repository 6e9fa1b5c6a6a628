"""The dashboards and alert rules against a running platform (run under the platform lock):

- every metric a dashboard or rule names is exported on a service's real `/metrics`;
- Debian's Prometheus, with the repository's scrape config and rules (only the targets pointed
  at where this platform listens and the intervals shortened), scrapes every service as up and
  finds the key series.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from testkit import auth_headers, eventually_sync, free_port, unique_region

from e2e_platform import Platform

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
JOBS = {"approval": "approval-svc", "supervision": "supervision-svc", "notify": "notify-svc"}
KEY_SERIES = (
    "up",
    "http_requests_total",
    "service_ready",
    "outbox_backlog",
    "consumer_lag_messages",
    "consumer_lag_seconds",
    "events_produced_total",
    "projects_in_flight",
)
_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "bool", "offset", "inf", "nan"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, labels or keywords)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return {n for n in names if n.lower() not in _NOT_METRICS}


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            exprs.extend(t["expr"] for t in panel["targets"])
    return exprs


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def exported_names(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created"),
        }.get(family.type, ())
        names.update(family.name + s for s in suffixes)
        names.update(sample.name for sample in family.samples)
    return names


def test_metric_names_are_parsed_from_expressions() -> None:
    assert metric_names(
        'sum by (service, le) (rate(x_bucket{a="b(c)"}[5m])) / on () y_total > 0 and time() - z'
    ) == {"x_bucket", "y_total", "z"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("observed")).start()
    try:
        # Some traffic, so request, event and lag series have samples.
        body = {"name": "Observed solar farm", "region_code": unique_region(),
                "industry_code": "D4416", "procedure": "verification",
                "total_investment": "880000000", "eia_category": "table",
                "location": "Hillside", "planned_start": "2027-06-01"}  # fmt: skip
        headers = auth_headers("enterprise", credit_code="91440300708461136T")
        response = httpx.post(
            f"{running.urls['approval']}/api/v1/projects", json=body, headers=headers, timeout=10
        )
        assert response.status_code == 201, response.text
        yield running
    finally:
        running.stop()


def test_dashboards_and_rules_name_only_exported_metrics(platform: Platform) -> None:
    exported: set[str] = {"up"}  # Prometheus's own, per target
    for name, base in platform.urls.items():
        text = httpx.get(f"{base}/metrics", timeout=10).text
        exported |= exported_names(text)
    used = {n for e in dashboard_exprs() + rule_exprs() for n in metric_names(e)}
    assert used, "no metric names found in dashboards and rules"
    missing = used - exported
    assert not missing, f"named by a dashboard or rule, exported by no service: {sorted(missing)}"


def prometheus_config(platform: Platform, rules: Path) -> dict[str, Any]:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(rules)]
    config.pop("alerting", None)  # no Alertmanager in this test
    jobs = {job: name for name, job in JOBS.items()}
    for scrape in config["scrape_configs"]:
        name = jobs.get(scrape["job_name"])
        if name is not None:
            host = platform.urls[name].removeprefix("http://")
            scrape["static_configs"] = [{"targets": [host]}]
    return config


def test_prometheus_scrapes_every_service_with_the_repository_config(
    platform: Platform, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(prometheus_config(platform, DEPLOY / "prometheus" / "rules.yml"))
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1"
    try:

        def targets_up() -> dict[str, str] | None:
            try:
                active = httpx.get(f"{api}/targets", timeout=3).json()["data"]["activeTargets"]
            except (httpx.HTTPError, ValueError, KeyError):
                return None
            health = {t["labels"]["job"]: t["health"] for t in active}
            wanted = set(JOBS.values())
            return (
                health
                if wanted <= health.keys() and all(health[j] == "up" for j in wanted)
                else None
            )

        eventually_sync(targets_up, timeout_s=60, what="every service target up")

        def series(name: str) -> list[Any]:
            result = httpx.get(f"{api}/query", params={"query": name}, timeout=5).json()
            return result["data"]["result"]

        for name in KEY_SERIES:
            found = eventually_sync(lambda name=name: series(name), timeout_s=30, what=name)
            services = {s["metric"].get("service") or s["metric"].get("job") for s in found}
            assert services, name
        groups = {s["metric"]["group"] for s in series("consumer_lag_messages")}
        assert {"approval-svc", "supervision-svc", "notify-svc"} <= groups
        rules = httpx.get(f"{api}/rules", timeout=5).json()["data"]["groups"]
        loaded = {r["name"] for g in rules for r in g["rules"]}
        assert len(loaded) == sum(1 for _ in rule_exprs())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
