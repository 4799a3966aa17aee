"""The local control plane behaves as production does for everything the
collection relies on (issue: foundation). Effects are read back with the
official `kubernetes` client."""
from __future__ import annotations

import ipaddress
import time

import httpx
import pytest
from kubernetes import client as k8s_client

from tools import localcluster

APP = "paperless-maverick"
GOOD = "paperless-maverick:latest"
BAD = "paperless-maverick:v2-bad"


def wait_until(predicate, timeout=120, sleep=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(sleep)
    raise AssertionError(f"timed out waiting for {what}")


def ready_pods(k8s, ns, selector):
    pods = k8s.core.list_namespaced_pod(ns, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def set_image(k8s, ns, image):
    k8s.apps.patch_namespaced_deployment(APP, ns, {"spec": {"template": {"spec": {"containers": [
        {"name": APP, "image": image}]}}}})


def rollout_complete(k8s, ns, name=APP):
    d = k8s.apps.read_namespaced_deployment(name, ns)
    s = d.status
    return (s.observed_generation == d.metadata.generation and s.updated_replicas == d.spec.replicas
            and s.available_replicas == d.spec.replicas and (s.replicas or 0) == d.spec.replicas)


def owned_replicasets(k8s, ns, name=APP):
    dep = k8s.apps.read_namespaced_deployment(name, ns)
    return [rs for rs in k8s.apps.list_namespaced_replica_set(ns).items
            if any(o.uid == dep.metadata.uid for o in rs.metadata.owner_references or [])]


@pytest.fixture
def app_ns(namespace, workload):
    workload(namespace)
    return namespace


def test_workload_becomes_available_with_three_ready_pods(k8s, app_ns):
    dep = k8s.apps.read_namespaced_deployment(APP, app_ns)
    assert dep.status.available_replicas == 3
    pods = ready_pods(k8s, app_ns, f"app={APP}")
    assert len(pods) == 3
    assert {p.spec.containers[0].name for p in pods} == {APP}
    assert all(ipaddress.ip_address(p.status.pod_ip) in ipaddress.ip_network(localcluster.POD_CIDR) for p in pods)
    workers = ready_pods(k8s, app_ns, "app=embedding-queue-worker")
    assert len(workers) == 3 and workers[0].spec.containers[0].name == "embedding-worker"
    secret = k8s.core.read_namespaced_secret("supabase-secrets", app_ns)
    assert set(secret.data) >= {"url", "anon-key", "service-role-key"}


def test_image_change_creates_revision_two_and_rollback_restores_revision_one(k8s, app_ns):
    set_image(k8s, app_ns, "paperless-maverick:v2")
    wait_until(lambda: rollout_complete(k8s, app_ns), what="rollout of v2")
    rss = owned_replicasets(k8s, app_ns)
    revisions = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert set(revisions) == {"1", "2"}
    assert revisions["2"].spec.template.spec.containers[0].image == "paperless-maverick:v2"
    new_pods = ready_pods(k8s, app_ns, f"app={APP}")
    assert len(new_pods) == 3 and {p.spec.containers[0].image for p in new_pods} == {"paperless-maverick:v2"}

    # Roll back the way `kubectl rollout undo` does: revision 1's template into the Deployment.
    template = k8s.api_client.sanitize_for_serialization(revisions["1"].spec.template)
    template["metadata"]["labels"].pop("pod-template-hash")
    k8s.apps.patch_namespaced_deployment(APP, app_ns, [{"op": "replace", "path": "/spec/template", "value": template}])
    wait_until(lambda: rollout_complete(k8s, app_ns), what="rollback")
    pods = ready_pods(k8s, app_ns, f"app={APP}")
    assert len(pods) == 3 and {p.spec.containers[0].image for p in pods} == {GOOD}
    revs = {rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in owned_replicasets(k8s, app_ns)}
    assert revs == {"2", "3"}  # revision 1 was re-used as revision 3


def test_bad_image_crash_loops_and_stalls_the_rollout(k8s, app_ns):
    set_image(k8s, app_ns, BAD)

    def crashing():
        pods = k8s.core.list_namespaced_pod(app_ns, label_selector=f"app={APP}").items
        return [p for p in pods if p.spec.containers[0].image == BAD and p.status.container_statuses
                and p.status.container_statuses[0].state.waiting
                and p.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"]

    bad = wait_until(crashing, what="a crash-looping pod")
    status = bad[0].status.container_statuses[0]
    assert status.ready is False and status.restart_count >= 3
    assert status.last_state.terminated.reason == "Error"
    # maxUnavailable 0: the old pods keep serving, the rollout does not complete.
    assert len(ready_pods(k8s, app_ns, f"app={APP}")) == 3
    assert not rollout_complete(k8s, app_ns)


def test_scaling_to_six_gives_six_ready_pods(k8s, app_ns):
    k8s.apps.patch_namespaced_deployment_scale(APP, app_ns, {"spec": {"replicas": 6}})
    wait_until(lambda: k8s.apps.read_namespaced_deployment(APP, app_ns).status.available_replicas == 6,
               what="6 available replicas")
    assert len(ready_pods(k8s, app_ns, f"app={APP}")) == 6


def test_network_policy_and_secret_round_trip(k8s, namespace):
    net = k8s_client.NetworkingV1Api(k8s.api_client)
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "default-deny"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                       "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}}
    net.create_namespaced_network_policy(namespace, policy)
    got = net.read_namespaced_network_policy("default-deny", namespace)
    assert got.spec.policy_types == ["Ingress", "Egress"] and got.spec.egress[0].ports[0].port == 53
    k8s.core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"k": "v1"}})
    k8s.core.patch_namespaced_secret("s", namespace, {"stringData": {"k": "v2"}})
    import base64
    assert base64.b64decode(k8s.core.read_namespaced_secret("s", namespace).data["k"]) == b"v2"
    net.delete_namespaced_network_policy("default-deny", namespace)
    assert not net.list_namespaced_network_policy(namespace).items


def test_pod_logs_are_served(k8s, app_ns):
    pod = ready_pods(k8s, app_ns, f"app={APP}")[0]
    text = k8s.core.read_namespaced_pod_log(pod.metadata.name, app_ns, container=APP, tail_lines=10)
    assert "server listening" in text


def _proxy_get(k8s, path):
    """GET through the API server (service or pod proxy); returns (status, body)."""
    api = k8s.api_client
    try:
        resp = api.rest_client.request("GET", api.configuration.host + path, headers={"Accept": "*/*"},
                                       _request_timeout=10)
        return resp.status, resp.read().decode()
    except k8s_client.ApiException as exc:
        return exc.status, exc.body


def test_health_follows_the_deployment_directly_and_through_the_service_proxy(k8s, cluster, app_ns):
    if not cluster.get("local"):
        pytest.skip("the health server runs with the local cluster only")
    direct = f"{cluster['health_url']}/health"
    proxied = f"/api/v1/namespaces/mataresit-system/services/health-server:80/proxy/health?namespace={app_ns}"
    with httpx.Client(timeout=5) as http:
        assert http.get(direct, params={"namespace": app_ns}).status_code == 200
        assert _proxy_get(k8s, proxied)[0] == 200
        set_image(k8s, app_ns, BAD)
        wait_until(lambda: http.get(direct, params={"namespace": app_ns}).status_code == 503, what="unhealthy")
        status, body = _proxy_get(k8s, proxied)
        assert status == 503 and "bad image" in body
        template = k8s.api_client.sanitize_for_serialization(
            [rs for rs in owned_replicasets(k8s, app_ns)
             if rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"][0].spec.template)
        template["metadata"]["labels"].pop("pod-template-hash")
        k8s.apps.patch_namespaced_deployment(APP, app_ns, [{"op": "replace", "path": "/spec/template", "value": template}])
        wait_until(lambda: http.get(direct, params={"namespace": app_ns}).status_code == 200, what="healthy again")
        assert _proxy_get(k8s, proxied)[0] == 200


def test_app_service_proxy_reaches_a_pod(k8s, cluster, app_ns):
    if not cluster.get("local"):
        pytest.skip("pod endpoints answer with the local cluster only")
    status, body = _proxy_get(k8s, f"/api/v1/namespaces/{app_ns}/services/paperless-maverick-service:80/proxy/health")
    assert status == 200 and '"pod"' in body
    status, body = _proxy_get(k8s, f"/api/v1/namespaces/{app_ns}/services/embedding-worker-service:9091/proxy/metrics")
    assert status == 200 and "embedding_queue_depth" in body
