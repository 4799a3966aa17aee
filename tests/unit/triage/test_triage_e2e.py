"""One whole triage call against a fake API behind httpx.MockTransport."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import NotFoundError
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import execute
from ansible_collections.mataresit.emergency.plugins.module_utils.services import triage
from tests.unit.triage.builders import deployment, event, node, pod, replicaset

NS = "/api/v1/namespaces/shop"
APPS = "/apis/apps/v1/namespaces/shop"


def bad_deploy_cluster(api, healthy_pods=1197):
    api.objects[NS] = {"metadata": {"name": "shop"}}
    api.add_all("/api/v1/nodes", [node("node-1"), node("node-2"), node("node-9", ready=False)])
    api.add_all(f"{APPS}/deployments", [
        deployment("web", replicas=1200, updated=3, ready=1197, available=1197, image="app:v2-bad")])
    api.add_all(f"{APPS}/replicasets", [
        replicaset("web-1", "web", 1, minutes_ago=3 * 24 * 60, image="app:v1"),
        replicaset("web-2", "web", 2, minutes_ago=4, image="app:v2-bad", change_cause="release v2"),
    ])
    pods = [pod(f"web-1-{i:04d}", rs="web-1", node_name=f"node-{1 + i % 2}") for i in range(healthy_pods)]
    pods += [pod(f"web-2-crash{i}", rs="web-2", ready=False, waiting="CrashLoopBackOff", last_reason="Error",
                 restarts=3, image="app:v2-bad") for i in range(3)]
    api.add_all(f"{NS}/pods", pods)
    api.add_all(f"{NS}/services", [{"metadata": {"name": "web-svc"}, "spec": {"selector": {"app": "web"}}}])
    api.add_all("/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", [
        {"metadata": {"name": "web-svc-x1", "labels": {"kubernetes.io/service-name": "web-svc"}},
         "endpoints": [{"conditions": {"ready": True}}] * 5}])
    events = [event(f"e{i}", "BackOff", minutes_ago=i, obj=f"Pod/web-2-crash{i}")
              for i in range(3)] + [event("e-old", "FailedMount", minutes_ago=50)]
    for item in events:
        item["type"] = "Warning"
    api.add_all(f"{NS}/events", events)
    api.set_log("shop", "web-2-crash0", "waiting\n")
    api.set_log("shop", "web-2-crash0", "starting\nERROR cannot load config\nerror: exiting\n", previous=True)
    api.add_all("/api/v1/namespaces/db/pods", [
        dict(pod("postgresql-0", node_name="node-1"), metadata={"name": "postgresql-0", "labels": {"app": "postgresql"}})])
    api.set_log("db", "postgresql-0", "ready to accept connections\n")
    return api


def test_end_to_end_bad_deploy_with_pagination_and_no_metrics_api(api, context):
    bad_deploy_cluster(api)
    database = {"name": "database", "namespace": "db", "label_selector": "app=postgresql", "required": True, "logs": True}
    module = context("triage", api_key="sekret-token", max_events=3, namespace="shop", extra_targets=[database],
                     logs={"enabled": True, "deployments": None, "pods": None, "tail_lines": 50,
                           "limit_bytes": 4096, "max_pods": 5})
    result = execute(module, triage.operation)

    assert result["changed"] is False
    assert result["verdict"] == "recent_bad_deploy"
    assert result["recommended_action"] == "rollback"
    evidence = " ".join(result["verdict_evidence"])
    for name in ("shop/web", "revision 2", "web-2", "app=app:v2-bad", "web-2-crash0", "release v2"):
        assert name in evidence
    assert result["verdict_target"]["rollback_to"] == 1

    # pagination: 1200 pods in pages of 500 with continue tokens
    pod_requests = [params for method, path, params, _body in api.requests if path == f"{NS}/pods"]
    assert [p.get("continue") for p in pod_requests] == [None, "500", "1000"]
    assert all(p["limit"] == "500" for p in pod_requests)
    assert result["pods"]["total"] == 1200 and result["pods"]["ready"] == 1197
    assert result["pods"]["problems"]["crash_loop"]["count"] == 3

    # metrics API absent: said so explicitly
    assert result["metrics_available"] is False
    assert "404" in result["metrics_reason"] and "metrics.k8s.io" in result["metrics_reason"]
    assert result["metrics"] is None

    # nodes: node-9 NotReady but runs none of our pods, so it is no evidence
    assert result["nodes"]["not_ready"][0]["name"] == "node-9" and result["nodes"]["not_ready"][0]["pods"] == 0
    assert [c["verdict"] for c in result["verdict_candidates"]] == ["recent_bad_deploy"]

    # rollout history, newest first
    dep = result["deployments"][0]
    assert [h["revision"] for h in dep["history"]] == [2, 1]
    assert dep["history"][0]["images"] == {"app": "app:v2-bad"}
    assert dep["revision"]["age_seconds"] == pytest.approx(240, abs=60)
    assert dep["new_pods"]["crash_loop"] == 3

    # logs: the crashing pod's previous container, error lines counted; the database pod too
    by_pod = {entry["pod"]: entry for entry in result["logs"]}
    crash = by_pod["web-2-crash0"]
    assert crash["previous"] is True
    assert crash["error_lines"] == 2 and crash["lines"] == 3
    log_requests = [params for method, path, params, _body in api.requests if path.endswith("/web-2-crash0/log")]
    assert log_requests[0]["previous"] == "true"
    assert log_requests[0]["tailLines"] == "50" and log_requests[0]["limitBytes"] == "4096"
    assert by_pod["postgresql-0"]["error_lines"] == 0

    # events: newest first, bounded
    assert result["events"]["warning_total"] == 4
    assert [e["object"] for e in result["events"]["items"]] == ["Pod/web-2-crash0", "Pod/web-2-crash1", "Pod/web-2-crash2"]

    assert result["extra_targets"][0]["ready"] == 1
    assert result["services"]["without_ready_endpoints"] == []
    # reads only, and no discovery
    assert {method for method, path, params, _body in api.requests} == {"GET"}
    assert not any(path in ("/api", "/apis") or path.startswith("/openapi") for method, path, params, _body in api.requests)
    assert "sekret-token" in module.no_log_values
    assert "sekret-token" not in repr(result)


def test_missing_namespace_is_a_clear_error(client, api):
    with pytest.raises(NotFoundError) as info:
        triage.assess(client, {"namespace": "nope"})
    assert str(info.value) == "Failed to triage namespace nope: namespace 'nope' does not exist; check 'namespace'"


def test_metrics_api_present_gives_usage(client, api):
    api.objects[NS] = {"metadata": {"name": "shop"}}
    api.add_all("/api/v1/nodes", [node("node-1", cpu="2", memory="4Gi")])
    api.add_all(f"{NS}/pods", [pod("web-1-a", rs="web-1", limits={"memory": "1Gi"})])
    api.add_all("/apis/metrics.k8s.io/v1beta1/nodes", [
        {"metadata": {"name": "node-1"}, "usage": {"cpu": "1900m", "memory": "1Gi"}}])
    api.add_all("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods", [
        {"metadata": {"name": "web-1-a"}, "containers": [{"name": "app", "usage": {"cpu": "5m", "memory": "1000Mi"}}]}])
    result = triage.assess(client, {"namespace": "shop", "logs": {"enabled": False}})
    assert result["metrics_available"] is True
    assert result["metrics"]["nodes"][0] == {"name": "node-1", "cpu_cores": 1.9, "memory_bytes": 2 ** 30,
                                             "cpu_percent": 95.0, "memory_percent": 25.0}
    assert result["metrics"]["nodes_near_capacity"] == [{"name": "node-1", "resource": "cpu", "percent": 95.0}]
    assert result["metrics"]["pods_near_limit"][0]["name"] == "web-1-a"
    assert result["verdict"] == "resource_exhaustion"
    assert result["logs"] == []


def test_nodes_forbidden_is_reported_not_fatal(client, api):
    api.objects[NS] = {"metadata": {"name": "shop"}}
    api.answers["/api/v1/nodes"] = (403, {"message": 'nodes is forbidden: User "x" cannot list resource "nodes"',
                                          "reason": "Forbidden"})
    result = triage.assess(client, {"namespace": "shop"})
    assert "forbidden" in result["nodes"]["error"]
    assert result["verdict"] == "unknown" and result["healthy"] is True


def test_named_log_targets_that_do_not_exist(client, api):
    bad_deploy_cluster(api, healthy_pods=2)
    result = triage.assess(client, {"namespace": "shop", "logs": {"deployments": ["web", "ghost"], "pods": ["gone"]}})
    errors = [entry.get("error") for entry in result["logs"]]
    assert "pod 'gone' does not exist in namespace 'shop'" in errors
    assert "deployment 'ghost' does not exist in namespace 'shop'" in errors
    crash = next(entry for entry in result["logs"] if entry.get("pod") == "web-2-crash0")
    assert crash["previous"] is True and crash["error_lines"] == 2


def test_log_falls_back_to_current_container_without_a_previous_one(client, api):
    bad_deploy_cluster(api, healthy_pods=2)
    api.remove_log("shop", "web-2-crash0", previous=True)
    result = triage.assess(client, {"namespace": "shop", "logs": {"pods": ["web-2-crash0"]}})
    assert result["logs"] == [{"namespace": "shop", "pod": "web-2-crash0", "container": "app", "previous": False,
                               "lines": 1, "bytes": 8, "error_lines": 0, "error_samples": [], "tail": "waiting\n"}]


def test_failing_deployment_logs_come_first_within_max_pods(client, api):
    bad_deploy_cluster(api, healthy_pods=2)
    api.add(f"{APPS}/deployments/aaa-fine", deployment("aaa-fine", replicas=1, uid="uid-aaa-fine"))
    api.add(f"{APPS}/replicasets/aaa-fine-1", replicaset("aaa-fine-1", "aaa-fine", 1, minutes_ago=600, image="app:v1"))
    api.add(f"{NS}/pods/aaa-fine-1-x", pod("aaa-fine-1-x", rs="aaa-fine-1"))
    result = triage.assess(client, {"namespace": "shop", "logs": {"max_pods": 1}})
    assert [entry["pod"] for entry in result["logs"]] == ["web-2-crash0"]
    result = triage.assess(client, {"namespace": "shop", "logs": {"max_pods": 2}})
    assert [entry["pod"] for entry in result["logs"]] == ["web-2-crash0", "aaa-fine-1-x"]


def test_unreadable_log_is_reported_not_fatal(client, api):
    bad_deploy_cluster(api, healthy_pods=2)
    api.answers[f"{NS}/pods/web-2-crash0/log"] = (403, {"message": "pods/log is forbidden", "reason": "Forbidden"})
    result = triage.assess(client, {"namespace": "shop", "logs": {"pods": ["web-2-crash0"]}})
    assert result["verdict"] == "recent_bad_deploy"
    assert result["logs"] == [{"namespace": "shop", "pod": "web-2-crash0", "container": "app", "previous": False,
                               "error": "permission denied (403 Forbidden): pods/log is forbidden"}]
