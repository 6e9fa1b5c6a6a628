"""deploy/prometheus: `promtool` checks the config and rules and runs the rules' unit tests.

promtool comes with the Debian package `prometheus` (.ci/run installs it); without it these
tests skip.
"""

from __future__ import annotations

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


def test_rules_cover_the_platform_metrics():
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    expressions = " ".join(rule["expr"] for rule in alerts.values())
    for metric in METRICS:
        assert metric in expressions, f"no alert uses {metric}"
    assert "ServiceDown" in alerts
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
