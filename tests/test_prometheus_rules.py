"""deploy/prometheus: `promtool` checks the config and rules and runs the rules' unit tests.

promtool comes with the Debian package `prometheus` (.ci/run installs it); without it these
tests skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
METRICS = (
    "http_requests_total",
    "http_request_duration_seconds",
    "outbox_backlog",
    "dead_letters_total",
    "events_produced_total",
    "event_processing_duration_seconds",
    "consumer_lag_messages",
    "consumer_lag_seconds",
    "service_ready",
    "approval_decisions_unauthenticated_total",
    "supervision_overdue_alerts_raised_total",
    "notify_delivery_attempts_total",
)
# Item 4 of the operations issue: service down, readiness, errors, lag high and growing, dead
# letters, outbox backlog, overdue per department, webhook failures, no events flowing.
ISSUE_ALERTS = (
    "ServiceDown",
    "ServiceNotReady",
    "HighHttp5xxRate",
    "ConsumerLagHigh",
    "ConsumerLagGrowing",
    "DeadLettersProduced",
    "OutboxBacklogGrowing",
    "OverdueTasksRising",
    "NotificationFailureRate",
    "NoEventsFlowing",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not on PATH (apt-get install prometheus provides it)")
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "rules.yml"),
        ("check", "config", "prometheus.yml"),
        ("test", "rules", "rules_test.yml"),
    ],
    ids=["check-rules", "check-config", "rule-unit-tests"],
)
def test_promtool(args):
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def alerts() -> dict[str, dict]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}


def test_rules_cover_the_platform_metrics():
    expressions = " ".join(rule["expr"] for rule in alerts().values())
    for metric in METRICS:
        assert metric in expressions, f"no alert uses {metric}"
    for name in ISSUE_ALERTS:
        assert name in alerts(), name


def test_every_alert_has_a_duration_a_severity_and_a_runbook_section():
    runbook = (PROMETHEUS_DIR.parent / "README.md").read_text()
    anchors = {m.lower() for m in re.findall(r"^#+ .*?\b([A-Z][A-Za-z0-9]+)\s*$", runbook, re.M)}
    for name, rule in alerts().items():
        assert rule["for"], name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["runbook_url"] == f"deploy/README.md#{name.lower()}", name
        assert name.lower() in anchors, f"deploy/README.md has no section for {name}"


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not():
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    fires: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    assert fires == set(alerts()), set(alerts()) ^ fires
    assert silent == set(alerts()), set(alerts()) ^ silent
