"""pod_recycle against the local control plane: not-running pods, by selector in bounded batches,
StatefulSet pods that come back under the same name, check mode, and replacements that never get Ready."""
from __future__ import annotations

import json

from tests.integration.deployments.helpers import APP, is_ready, live_pods, poll, rollout_complete

CONTAINERS = [{"name": "legacy", "image": "legacy-worker:1.0"}]


def base(kubeconfig, ns, **extra):
    return dict({"kubeconfig": kubeconfig, "namespace": ns}, **extra)


def uids(pods):
    return {p.metadata.uid for p in pods}


def legacy_with_a_pending_pod(k8s, ns):
    """A ReplicaSet of 3 that adopted one Pending (scheduling-gated) pod and runs 2 Ready ones."""
    labels = {"app": "legacy"}
    k8s.core.create_namespaced_pod(ns, {"apiVersion": "v1", "kind": "Pod",
                                        "metadata": {"name": "legacy-gated", "labels": labels},
                                        "spec": {"schedulingGates": [{"name": "mataresit.test/hold"}],
                                                 "containers": CONTAINERS}})
    k8s.apps.create_namespaced_replica_set(ns, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "legacy", "labels": labels},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": CONTAINERS}}}})

    def settled():
        pods = live_pods(k8s, ns, "app=legacy")
        gated = [p for p in pods if p.metadata.name == "legacy-gated" and p.metadata.owner_references]
        return gated and len([p for p in pods if is_ready(p)]) == 2 and len(pods) == 3 and gated[0]
    return poll(settled, what="ReplicaSet legacy adopting the gated pod")


def test_recycle_not_running_pods(namespace, kubeconfig, k8s, run_module, tmp_path):
    gated = legacy_with_a_pending_pod(k8s, namespace)
    assert gated.status.phase == "Pending"
    args = base(kubeconfig, namespace, label_selector="app=legacy", not_running=True)

    checked = run_module("pod_recycle", args, check_mode=True, diff=True)
    assert checked["changed"] and checked["deleted"] == ["legacy-gated"]
    assert checked["diff"]["before"] == {"pods": ["legacy-gated"]}
    still = k8s.core.read_namespaced_pod("legacy-gated", namespace)
    assert still.metadata.uid == gated.metadata.uid and not still.metadata.deletion_timestamp

    result = run_module("pod_recycle", dict(args, incident_dir=str(tmp_path)))
    assert result["changed"] and result["deleted"] == ["legacy-gated"] and result["matched"] == 3
    with open(result["backup_path"], encoding="utf-8") as handle:
        evidence = json.load(handle)
    assert [(p["metadata"]["name"], p["status"]["phase"]) for p in evidence["pods"]] == [("legacy-gated", "Pending")]
    assert len(result["replacements"]) == 1 and result["replacements"][0]["ready"]
    assert result["replacements"][0]["controller"] == "ReplicaSet/legacy"
    pods = live_pods(k8s, namespace, "app=legacy")
    assert "legacy-gated" not in [p.metadata.name for p in pods]
    assert len(pods) == 3 and all(is_ready(p) and p.status.phase == "Running" for p in pods)

    again = run_module("pod_recycle", args)
    assert again["changed"] is False and again["deleted"] == []


def test_recycle_by_selector_one_at_a_time(app, k8s, run_module):
    ns = app["namespace"]
    before = live_pods(k8s, ns, f"app={APP}")
    result = run_module("pod_recycle", base(app["kubeconfig"], ns, label_selector=f"app={APP}", max_concurrent=1))
    assert sorted(result["deleted"]) == sorted(p.metadata.name for p in before)
    assert len(result["replacements"]) == 3 and all(r["ready"] for r in result["replacements"])
    after = live_pods(k8s, ns, f"app={APP}")
    assert len(after) == 3 and all(is_ready(p) for p in after) and not uids(before) & uids(after)
    # pod_recycle waits for the pods; the Deployment controller updates its status a moment later.
    assert poll(lambda: rollout_complete(k8s, ns, APP), what="the Deployment status catching up")


def test_statefulset_pods_come_back_under_their_names(namespace, kubeconfig, k8s, run_module):
    labels = {"app": "cache"}
    k8s.apps.create_namespaced_stateful_set(namespace, {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "cache", "labels": labels},
        "spec": {"replicas": 2, "serviceName": "cache", "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "cache", "image": "redis:7"}]}}}})

    def both_ready():
        pods = live_pods(k8s, namespace, "app=cache")
        return len(pods) == 2 and all(map(is_ready, pods)) and pods
    before = poll(both_ready, what="StatefulSet cache Ready")
    result = run_module("pod_recycle", base(kubeconfig, namespace, label_selector="app=cache"))
    assert sorted(result["deleted"]) == ["cache-0", "cache-1"]
    assert sorted(r["name"] for r in result["replacements"]) == ["cache-0", "cache-1"]
    after = live_pods(k8s, namespace, "app=cache")
    assert sorted(p.metadata.name for p in after) == ["cache-0", "cache-1"]
    assert all(map(is_ready, after)) and not uids(before) & uids(after)


def test_replacements_that_never_get_ready_fail_clearly(app, k8s, run_module):
    ns = app["namespace"]
    k8s.apps.patch_namespaced_deployment(APP, ns, {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "image": "paperless-maverick:v2-bad"}]}}}})
    bad = poll(lambda: [p for p in live_pods(k8s, ns, f"app={APP}") if not is_ready(p)], what="a crash-looping pod")
    result = run_module("pod_recycle", base(app["kubeconfig"], ns, label_selector=f"app={APP}", not_ready=True,
                                            wait_timeout=10), expect_failure=True)
    assert result["failed"] and result["changed"] is True and result["deleted"] == [bad[0].metadata.name]
    assert "replacements not Ready" in result["msg"] and "\n" not in result["msg"]
    assert "CrashLoopBackOff" in result["msg"], result["msg"]
    ready = [p for p in live_pods(k8s, ns, f"app={APP}") if is_ready(p)]
    assert len(ready) == 3  # the healthy pods were left alone
