"""One incident across several clusters: the play runs on every cluster, each recovers on its own,
people are paged once, and each cluster's backups stay apart in the workspace."""
from __future__ import annotations

import json
import uuid

import pytest

from .helpers import APP, break_app, deployment, run_playbook


def test_two_clusters_recover_in_one_incident_paged_once(k8s, cluster, sandbox, make_namespace, workload, tmp_path):
    if not cluster.get("local"):
        pytest.skip("the playbook's health targets are the local cluster's health server")
    # Two inventory hosts (clusters) on the local control plane, told apart by their namespace.
    hosts = {"alpha": make_namespace(), "beta": make_namespace()}
    for ns in hosts.values():
        workload(ns)
        break_app(k8s, ns)
    inventory = tmp_path / "clusters.yml"
    inventory.write_text(json.dumps({"clusters": {"hosts": {
        host: {"emergency_namespace": ns, "k8s_kubeconfig": cluster["kubeconfig"]} for host, ns in hosts.items()}}}))
    incident_id = f"mc-{uuid.uuid4().hex[:8]}"

    proc = run_playbook(cluster, sandbox, None, incident_id, tmp_path, "--limit", "alpha,beta",
                        inventories=("inventories/local", inventory))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    for ns in hosts.values():
        dep = deployment(k8s, ns)
        assert dep.spec.template.spec.containers[0].image == f"{APP}:latest"
        assert dep.status.available_replicas == dep.spec.replicas == 3
    events = [w["json"]["event_action"] for w in sandbox.accepted_writes() if w["service"] == "pagerduty-events"]
    assert events == ["trigger", "resolve"]
    workspace = tmp_path / incident_id
    for host in hosts:
        backups = list((workspace / "clusters" / host / "rollout").glob("*.json"))
        assert len(backups) == 1 and json.loads(backups[0].read_text())["object"]["metadata"]["namespace"] == hosts[host]
    timeline = [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]
    rolled_back = {e["cluster"] for e in timeline if e["action"].endswith("recover") and e["status"] == "changed"
                   and e["task"].startswith("Roll back Deployment")}
    assert rolled_back == set(hosts)
