"""Prometheus runs the reference configuration and rules: promtool accepts the rules, the configuration differs
from the reference only by the documented local overrides, and the running Prometheus loaded the rules unchanged."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
import yaml

from tools import alert_chain, monitoring, monitoring_build, workload

pytestmark = pytest.mark.xdist_group("alert-chain")
RULES = monitoring.REFERENCE / "embedding-alerts.yml"


@pytest.fixture(scope="module")
def promtool():
    return str(monitoring_build.build()["promtool"])


def test_promtool_accepts_the_reference_rules(promtool):
    proc = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "SUCCESS: 29 rules found" in proc.stdout


def differences(reference, generated, path=()):
    """Key paths (tuples of keys and list indexes) where generated differs from reference."""
    if isinstance(reference, dict) and isinstance(generated, dict):
        return [d for key in sorted(set(reference) | set(generated), key=str)
                for d in differences(reference.get(key, "<absent>"), generated.get(key, "<absent>"), path + (key,))]
    if isinstance(reference, list) and isinstance(generated, list) and len(reference) == len(generated):
        return [d for i, (a, b) in enumerate(zip(reference, generated)) for d in differences(a, b, path + (i,))]
    return [] if reference == generated else [path]


@pytest.mark.parametrize("fast", [False, True])
def test_the_reference_configuration_runs_with_only_the_local_overrides(promtool, tmp_path, fast):
    for name in ("kubeconfig", "ca.crt", "token"):
        (tmp_path / name).write_text("placeholder\n")
    (tmp_path / "rules").mkdir()
    shutil.copyfile(RULES, tmp_path / "rules" / "embedding-alerts.yml")
    reference = monitoring.reference_prometheus()
    generated = monitoring.prometheus_config(reference, str(tmp_path / "kubeconfig"), str(tmp_path / "ca.crt"),
                                             str(tmp_path / "token"), "127.0.0.1:9093", fast)

    # As written, Prometheus refuses the reference file: its storage keys are command-line flags.
    (tmp_path / "reference.yml").write_text(yaml.safe_dump(reference))
    refused = subprocess.run([promtool, "check", "config", str(tmp_path / "reference.yml")], capture_output=True,
                             text=True, check=False)
    assert refused.returncode != 0 and "field path not found" in refused.stdout + refused.stderr
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(generated))
    accepted = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                              text=True, check=False)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "SUCCESS: 29 rules found" in accepted.stdout

    allowed = {"kubeconfig_file", "ca_file", "bearer_token_file", "targets", "path", "retention.time",
               "retention.size", "wal-compression", "retention"}
    if fast:
        allowed |= {"scrape_interval", "evaluation_interval", "scrape_timeout"}
    changed = differences(reference, generated)
    assert changed and {[k for k in p if isinstance(k, str)][-1] for p in changed} <= allowed, changed
    # The relabelling, the jobs and the rules are the reference's.
    assert [j["relabel_configs"] for j in generated["scrape_configs"] if "relabel_configs" in j] == \
        [j["relabel_configs"] for j in reference["scrape_configs"] if "relabel_configs" in j]
    assert generated["rule_files"] == reference["rule_files"] == ["rules/*.yml"]
    assert generated["storage"]["tsdb"] == {"retention": {"time": "15d", "size": "50GB"}}


def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]


def test_the_running_prometheus_evaluates_the_reference_rules_unchanged(cluster):
    if not cluster.get("local"):
        pytest.skip("monitoring runs on the local cluster")
    state = monitoring.ensure_up(fast=True)
    workload.deploy(cluster["kubeconfig"], alert_chain.NAMESPACE)
    loaded = monitoring.MON_DIR / "rules" / "embedding-alerts.yml"
    assert hashlib.sha256(loaded.read_bytes()).digest() == hashlib.sha256(RULES.read_bytes()).digest()

    def evaluated():
        groups = get(f"{state['prometheus_url']}/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return len(rules) == 29 and all(r["health"] == "ok" for r in rules)

    alert_chain.wait_for("the 29 reference rules evaluated", evaluated, 90)

    # Every app and worker pod of the namespace is a target of job paperless-maverick, found through the API server.
    def targets():
        query = urllib.parse.urlencode({"query": 'up{job="paperless-maverick", kubernetes_namespace="paperless-maverick"} == 1'})
        up = get(f"{state['prometheus_url']}/api/v1/query?{query}")["result"]
        return len(up) == 6 and {s["metric"]["app"] for s in up} == {"paperless-maverick", "embedding-queue-worker"}

    alert_chain.wait_for("the 6 pods of paperless-maverick scraped", targets, 90)
