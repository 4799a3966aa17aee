"""triage against the local control plane: four staged faults on the
reference workload, a healthy workload, and clean failures.

Faults follow the local cluster's kwok contract: an image tag containing
`bad` crash-loops; a node labelled mataresit.test/fault=notready goes
Ready=False. Effects are observed with the independent `kubernetes` client.
"""
from __future__ import annotations

import json

import pytest
from kubernetes import client as kube

from tests.integration.helpers import wait_for

APP = "paperless-maverick"
WORKERS = "embedding-queue-workers"


def run_triage(run_module, kubeconfig, namespace, check_mode=False, **options):
    return run_module("triage", dict(kubeconfig=kubeconfig, namespace=namespace, **options), check_mode=check_mode)


def app_pods(k8s, namespace, app=APP):
    return k8s.core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def resource_versions(k8s, namespace):
    deps = k8s.apps.list_namespaced_deployment(namespace).items
    pods = k8s.core.list_namespaced_pod(namespace).items
    return {f"Deployment/{d.metadata.name}": d.metadata.resource_version for d in deps} | {
        f"Pod/{p.metadata.name}": p.metadata.resource_version for p in pods}


def waiting_reason(pod):
    for status in pod.status.container_statuses or []:
        if status.state and status.state.waiting:
            return status.state.waiting.reason
    return None


def test_healthy_workload_is_unknown_and_healthy_and_reads_only(run_module, kubeconfig, k8s, namespace, workload, cluster):
    deployed = workload(namespace)
    before = resource_versions(k8s, namespace)

    result = run_triage(run_module, kubeconfig, namespace)
    checked = run_triage(run_module, kubeconfig, namespace, check_mode=True)

    for res in (result, checked):
        assert res["changed"] is False
        assert res["verdict"] == "unknown"
        assert res["healthy"] is True
        assert res["verdict_evidence"] == []
        assert res["recommended_action"] == "none"
    assert resource_versions(k8s, namespace) == before  # nothing touched, check mode or not

    assert sorted(d["name"] for d in result["deployments"]) == sorted([APP, WORKERS])
    app = next(d for d in result["deployments"] if d["name"] == APP)
    rs = k8s.apps.list_namespaced_replica_set(namespace, label_selector=f"app={APP}").items[0]
    assert app["revision"]["replicaset"] == rs.metadata.name and app["revision"]["revision"] == 1
    assert (app["desired"], app["available"]) == (3, 3)
    pods = k8s.core.list_namespaced_pod(namespace).items
    assert result["pods"]["total"] == len(pods) and result["pods"]["ready"] == len(pods)
    assert result["pods"]["problems"] == {}
    svc = {s["name"]: s for s in result["services"]["items"]}
    assert svc[f"{APP}-service"]["ready_endpoints"] == 3 and svc[f"{APP}-service"]["workloads"] == [APP]
    if cluster.get("local"):
        assert result["metrics_available"] is False
        assert "metrics.k8s.io" in result["metrics_reason"]
    # log tails of one pod per Deployment, bounded, with error counts
    assert {entry["pod"] for entry in result["logs"]} <= {p.metadata.name for p in pods}
    assert all("error_lines" in entry or "error" in entry for entry in result["logs"])
    # the generated secret values never reach the output
    text = json.dumps(result)
    for values in deployed["secrets"].values():
        for value in values.values():
            if len(value) >= 8:
                assert value not in text


def test_bad_image_rolled_out_minutes_ago_is_recent_bad_deploy(run_module, kubeconfig, k8s, namespace, workload):
    workload(namespace)
    k8s.apps.patch_namespaced_deployment(APP, namespace, {
        "metadata": {"annotations": {"kubernetes.io/change-cause": "release v2-bad"}},
        "spec": {"template": {"spec": {"containers": [{"name": APP, "image": f"{APP}:v2-bad"}]}}}})
    crashing = wait_for("a crash-looping pod of the new revision", lambda: [
        p for p in app_pods(k8s, namespace) if waiting_reason(p) == "CrashLoopBackOff"])
    new_rs = crashing[0].metadata.owner_references[0].name

    result = run_triage(run_module, kubeconfig, namespace)

    assert result["verdict"] == "recent_bad_deploy", result["verdict_evidence"]
    assert result["recommended_action"] == "rollback"
    assert result["verdict_target"] == {"kind": "Deployment", "namespace": namespace, "name": APP,
                                        "revision": 2, "rollback_to": 1}
    evidence = " ".join(result["verdict_evidence"])
    for name in (f"{namespace}/{APP}", "revision 2", new_rs, f"{APP}:v2-bad", crashing[0].metadata.name,
                 "release v2-bad", "CrashLoopBackOff"):
        assert name in evidence
    assert WORKERS not in evidence
    app = next(d for d in result["deployments"] if d["name"] == APP)
    assert [h["revision"] for h in app["history"]] == [2, 1]
    assert app["history"][0]["images"][APP] == f"{APP}:v2-bad" and app["history"][0]["change_cause"] == "release v2-bad"
    assert result["pods"]["problems"]["crash_loop"]["count"] >= 1
    assert any(entry.get("pod") == crashing[0].metadata.name for entry in result["logs"])


def test_pods_pending_for_insufficient_cpu_is_resource_exhaustion(run_module, kubeconfig, k8s, namespace, workload):
    workload(namespace)
    huge = {"cpu": "64"}
    k8s.apps.patch_namespaced_deployment(APP, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "resources": {"requests": huge, "limits": huge}}]}}}})

    def pending_insufficient():
        out = []
        for pod in app_pods(k8s, namespace):
            for cond in pod.status.conditions or []:
                if cond.type == "PodScheduled" and cond.status == "False" and "Insufficient cpu" in (cond.message or ""):
                    out.append(pod)
        return out

    pending = wait_for("a pod Pending for insufficient cpu", pending_insufficient)

    result = run_triage(run_module, kubeconfig, namespace)

    assert result["verdict"] == "resource_exhaustion", result["verdict_evidence"]
    assert result["recommended_action"] == "scale_up"
    evidence = result["verdict_evidence"][0]
    assert "Insufficient cpu" in evidence and pending[0].metadata.name in evidence
    assert result["verdict_target"] == {"kind": "Deployment", "namespace": namespace, "name": APP}
    assert any("Insufficient cpu" in reason for reason in result["pods"]["pending_reasons"])
    # a recent revision whose pods only wait for resources is not a bad deploy
    assert "recent_bad_deploy" not in [c["verdict"] for c in result["verdict_candidates"]]


def test_not_ready_node_running_workload_pods_is_node_failure(run_module, kubeconfig, k8s, namespace, workload, own_node):
    workload(namespace)
    node = own_node["name"]
    k8s.apps.patch_namespaced_deployment(WORKERS, namespace, {"spec": {"template": {"spec": {
        "nodeSelector": {"kubernetes.io/hostname": node}, "tolerations": [own_node["toleration"]]}}}})

    def workers_ready_on_node():
        pods = app_pods(k8s, namespace, "embedding-queue-worker")
        return pods if len(pods) == 3 and all(
            p.spec.node_name == node and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
            for p in pods) else None

    on_node = wait_for(f"worker pods Ready on {node}", workers_ready_on_node, timeout=180)

    k8s.core.patch_node(node, {"metadata": {"labels": {"mataresit.test/fault": "notready"}}})
    wait_for(f"node {node} NotReady", lambda: any(
        c.type == "Ready" and c.status != "True" for c in k8s.core.read_node(node).status.conditions or []))

    result = run_triage(run_module, kubeconfig, namespace)

    assert result["verdict"] == "node_failure", result["verdict_evidence"]
    assert result["recommended_action"] == "restart"
    assert result["verdict_target"] == {"kind": "Node", "name": node}
    evidence = result["verdict_evidence"][0]
    assert node in evidence and "3 pod(s)" in evidence
    assert any(p.metadata.name in evidence for p in on_node)
    failed = next(n for n in result["nodes"]["not_ready"] if n["name"] == node)
    assert failed["pods"] == 3
    # only the failed node is blamed: the shared nodes running the app are fine
    assert all(node in line for line in result["verdict_evidence"])


@pytest.fixture
def database(k8s, namespace):
    """A PostgreSQL stand-in (app=postgresql, Recreate strategy) in its own namespace, deleted afterwards."""
    db_ns = f"{namespace}-db"
    k8s.core.create_namespace(kube.V1Namespace(metadata=kube.V1ObjectMeta(name=db_ns, labels={"mataresit.test": "true"})))
    labels = {"app": "postgresql"}
    k8s.apps.create_namespaced_deployment(db_ns, kube.V1Deployment(
        metadata=kube.V1ObjectMeta(name="postgresql", labels=labels),
        spec=kube.V1DeploymentSpec(
            replicas=1, selector=kube.V1LabelSelector(match_labels=labels),
            strategy=kube.V1DeploymentStrategy(type="Recreate"),
            template=kube.V1PodTemplateSpec(
                metadata=kube.V1ObjectMeta(labels=labels),
                spec=kube.V1PodSpec(containers=[kube.V1Container(name="postgresql", image="postgres:15.8")])))))
    try:
        wait_for("postgresql available", lambda: (k8s.apps.read_namespaced_deployment("postgresql", db_ns).status
                                                  .available_replicas or 0) == 1)
        yield db_ns
    finally:
        try:
            k8s.core.delete_namespace(db_ns, propagation_policy="Background", grace_period_seconds=0)
        except Exception:  # noqa: BLE001 - cleanup best effort
            pass


def test_database_pods_down_is_dependency_down(run_module, kubeconfig, k8s, namespace, workload, database):
    workload(namespace)
    target = [{"name": "database", "namespace": database, "label_selector": "app=postgresql"}]
    healthy = run_triage(run_module, kubeconfig, namespace, extra_targets=target)
    assert healthy["verdict"] == "unknown" and healthy["healthy"] is True
    assert healthy["extra_targets"][0]["ready"] == 1

    k8s.apps.patch_namespaced_deployment("postgresql", database, {"spec": {"template": {"spec": {"containers": [
        {"name": "postgresql", "image": "postgres:15-bad"}]}}}})

    def postgresql_crash_looping():
        pods = app_pods(k8s, database, "postgresql")
        return pods if pods and all(waiting_reason(p) == "CrashLoopBackOff" for p in pods) else None

    down = wait_for("postgresql crash-looping with no ready pod", postgresql_crash_looping)

    result = run_triage(run_module, kubeconfig, namespace, extra_targets=target)

    assert result["verdict"] == "dependency_down", result["verdict_evidence"]
    assert result["recommended_action"] == "restart"
    assert result["verdict_target"] == {"kind": "ExtraTarget", "name": "database", "namespace": database,
                                        "label_selector": "app=postgresql"}
    evidence = result["verdict_evidence"][0]
    assert "database" in evidence and database in evidence and down[0].metadata.name in evidence
    assert "0 of 1" in evidence
    assert result["extra_targets"][0]["ready"] == 0
    # the application itself is fine, so nothing else is blamed
    assert [c["verdict"] for c in result["verdict_candidates"]] == ["dependency_down"]


def test_missing_namespace_fails_with_one_line(run_module, kubeconfig):
    result = run_module("triage", {"kubeconfig": kubeconfig, "namespace": "no-such-namespace-x1"}, expect_failure=True)
    assert result["failed"] is True
    assert result["msg"] == ("Failed to triage namespace no-such-namespace-x1: namespace 'no-such-namespace-x1' "
                             "does not exist; check 'namespace'")


@pytest.mark.parametrize("args, expected", [
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "Failed to load kubeconfig: no file at /nonexistent/kubeconfig"),
    ({"context": "no-such-context"}, "context 'no-such-context' is not defined"),
    ({"host": "https://127.0.0.1:1", "api_key": "x-token-value", "kubeconfig": None, "api_outage_wait": 0},
     "unreachable"),
])
def test_bad_connection_fails_with_one_line(run_module, kubeconfig, args, expected):
    params = dict({"kubeconfig": kubeconfig, "namespace": "default"}, **args)
    if params["kubeconfig"] is None:
        del params["kubeconfig"]
    result = run_module("triage", params, expect_failure=True)
    assert result["failed"] is True
    assert expected in result["msg"]
    assert "\n" not in result["msg"] and "Traceback" not in result["msg"]
    assert "x-token-value" not in json.dumps(result)
