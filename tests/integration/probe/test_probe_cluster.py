"""health_probe and metrics_probe against the local control plane and its health
server (tools/health_server.py): direct URLs, the API server's service proxy,
and every pod through the pod proxy.

Each test works in its own namespace: the health server answers for the
namespace named in `?namespace=` (and `?db_namespace=` for /health/database),
and as the pod itself on a pod IP, so nothing shared is touched.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools.tls import self_signed

SYSTEM_NAMESPACE = "mataresit-system"
HEALTH_SERVICE = {"namespace": SYSTEM_NAMESPACE, "name": "health-server", "port": 80}


@pytest.fixture
def health(cluster):
    if not cluster.get("health_url"):
        pytest.skip("the health server runs with the local cluster only")
    return cluster["health_url"]


@pytest.fixture
def conn(kubeconfig):
    return {"kubeconfig": kubeconfig}


def set_image(k8s, namespace, image):
    k8s.apps.patch_namespaced_deployment("paperless-maverick", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "paperless-maverick", "image": image}]}}}})


def probe_until(run_module, args, condition, timeout=60):
    """Run health_probe until condition(result) holds (the health server caches for 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        result = run_module("health_probe", args)
        if condition(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def set_queue_depth(health_url, namespace, value):
    body = json.dumps({"value": value, "namespace": namespace}).encode()
    request = urllib.request.Request(f"{health_url}/control/queue_depth", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def assert_pods_reachable(k8s, cluster, namespace):
    """The health server answers pod IPs only inside the local cluster's pod network: say so plainly
    when the cluster has handed out addresses beyond it (more pods than the pod CIDR holds)."""
    if not cluster.get("local"):
        return
    import ipaddress

    from tools import localcluster

    network = ipaddress.ip_network(localcluster.POD_CIDR)
    outside = [f"{p.metadata.name}={p.status.pod_ip}" for p in k8s.core.list_namespaced_pod(namespace).items
               if p.status.pod_ip and ipaddress.ip_address(p.status.pod_ip) not in network]
    assert not outside, (f"pods got IPs outside the local pod network {network} (the cluster holds more pods than "
                         f"it has addresses; nothing answers there): {', '.join(outside)}")


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def slow_server():
    """A local endpoint that holds every request until the test ends; counts requests."""
    release = threading.Event()
    hits = []

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            hits.append(self.path)
            release.wait(30)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_server(tmp_path):
    """A local https endpoint with a self-signed certificate nobody trusts."""
    import ssl

    cert_path, key_path = self_signed(tmp_path)

    class Ok(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # the refused handshakes are the point
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


# -- health_probe ------------------------------------------------------------
def test_healthy_app_then_bad_image_then_healed(run_module, k8s, namespace, workload, health):
    workload(namespace)
    targets = [{"name": path, "url": f"{health}{path}?namespace={namespace}"}
               for path in ("/health", "/health/live", "/health/ready", "/metrics")]
    args = {"targets": targets, "samples": 10, "max_latency_ms": 5000}

    healthy = run_module("health_probe", args)
    assert healthy["healthy"] is True and healthy["changed"] is False and healthy["unhealthy"] == []
    for result in healthy["targets"]:
        assert result["healthy"] and result["status_codes"] == [200]
        assert result["samples"] == result["responses"] == 10
        stats = result["latency_ms"]
        assert 0 < stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]

    good_image = k8s.apps.read_namespaced_deployment("paperless-maverick", namespace).spec.template.spec.containers[0].image
    set_image(k8s, namespace, "paperless-maverick:v2-bad")
    # Wait for a run whose samples all came after the change (a run that straddles it sees 200 and 503).
    sick = probe_until(run_module, args, lambda r: not r["healthy"] and all(
        t["status_codes"] == [503] for t in r["targets"] if t["name"] == "/health"))
    by_name = {r["name"]: r for r in sick["targets"]}
    assert sick["healthy"] is False and set(sick["unhealthy"]) >= {"/health", "/health/ready"}
    assert by_name["/health"]["error"] == "unexpected_status" and by_name["/health"]["status_codes"] == [503]
    assert "bad image" in by_name["/health"]["body"] and "expected 200" in by_name["/health"]["message"]
    assert by_name["/metrics"]["healthy"]

    failed = run_module("health_probe", dict(args, fail_on_unhealthy=True), expect_failure=True)
    assert failed["failed"] is True
    assert failed["msg"].startswith("Failed to confirm health: ")
    assert "/health (unexpected_status: status 503" in failed["msg"] and "/metrics (" not in failed["msg"]

    set_image(k8s, namespace, good_image)
    healed = probe_until(run_module, dict(args, samples=1), lambda r: r["healthy"], timeout=120)
    assert healed["healthy"] is True


def test_check_mode_probes_too_and_changes_nothing(run_module, k8s, namespace, workload, health):
    workload(namespace)
    before = k8s.apps.read_namespaced_deployment("paperless-maverick", namespace).metadata.resource_version
    result = run_module("health_probe", {"targets": [{"url": f"{health}/health?namespace={namespace}"}],
                                         "samples": 3}, check_mode=True)
    assert result["changed"] is False and result["targets"][0]["responses"] == 3 and result["healthy"]
    after = k8s.apps.read_namespaced_deployment("paperless-maverick", namespace).metadata.resource_version
    assert before == after


def test_timeout_is_reported_and_not_retried(run_module, slow_server):
    url, hits = slow_server
    result = run_module("health_probe", {"targets": [{"url": url + "/health", "timeout": 0.3, "retries": 3,
                                                      "samples": 2}]})
    target = result["targets"][0]
    assert result["healthy"] is False and target["error"] == "timeout"
    assert target["errors"] == {"timeout": 2} and target["retries"] == 0 and target["latency_ms"] is None
    assert len(hits) == 2  # one request per sample: a read timeout is not retried


def test_refused_connection_is_retried_then_reported(run_module):
    url = f"http://127.0.0.1:{closed_port()}/health"
    result = run_module("health_probe", {"targets": [{"url": url}], "samples": 2, "retries": 1})
    target = result["targets"][0]
    assert target["error"] == "refused" and target["retries"] == 2 and target["status_codes"] == []
    assert result["unhealthy"] == [url]


def test_untrusted_certificate_is_a_tls_error_unless_verification_is_off(run_module, tls_server):
    result = run_module("health_probe", {"targets": [{"url": tls_server, "retries": 2}]})
    target = result["targets"][0]
    assert target["error"] == "tls" and target["retries"] == 0 and "CERTIFICATE_VERIFY_FAILED" in target["message"]
    result = run_module("health_probe", {"targets": [{"url": tls_server, "validate_certs": False}], "samples": 3})
    assert result["healthy"] is True and result["targets"][0]["responses"] == 3


def test_verification_trusts_ssl_cert_file_loaded_at_the_first_tls_connection(run_module, tls_server, tmp_path,
                                                                              monkeypatch):
    # The verifying context loads its trust only when a TLS connection is made (http.default_trust); it is the
    # same trust httpx uses: SSL_CERT_FILE when set, so the certificate nobody else trusts is accepted here.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "tls.crt"))  # the tls_server's certificate
    result = run_module("health_probe", {"targets": [{"url": tls_server, "retries": 0}], "samples": 2})
    assert result["healthy"] is True and result["targets"][0]["responses"] == 2


def test_mixed_targets_name_each_failure(run_module, health, slow_server):
    refused = f"http://127.0.0.1:{closed_port()}/health"
    result = run_module("health_probe", {"targets": [
        {"name": "app", "url": f"{health}/control/ping"},  # always 200, whatever the cluster runs
        {"name": "down", "url": refused, "retries": 0},
        {"name": "hung", "url": slow_server[0], "timeout": 0.3},
        {"name": "missing", "url": f"{health}/nope"},
    ], "fail_on_unhealthy": True}, expect_failure=True)
    assert result["msg"].startswith("Failed to confirm health: 3 of 4 targets unhealthy: down (refused")
    assert "hung (timeout" in result["msg"] and "missing (unexpected_status: status 404" in result["msg"]
    assert "app (" not in result["msg"]


def test_database_through_the_service_proxy_without_exec(run_module, k8s, conn, namespace, health):
    from tools import workload as workload_tool
    from kubernetes import client as kclient

    target = {"name": "database", "service": dict(HEALTH_SERVICE, path=f"/health/database?db_namespace={namespace}")}
    down = run_module("health_probe", dict(conn, targets=[target], samples=3))
    result = down["targets"][0]
    assert down["healthy"] is False and result["error"] == "unexpected_status" and result["status_codes"] == [503]
    assert "no ready postgresql pod" in result["body"]
    assert result["proxy_path"] == (f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/services/health-server:80/proxy/"
                                    f"health/database?db_namespace={namespace}")

    for doc in workload_tool.dependencies(namespace, with_ingress=False):
        if doc["kind"] == "StatefulSet":
            k8s.apps.create_namespaced_stateful_set(namespace, doc)
        elif doc["kind"] == "Service":
            k8s.core.create_namespaced_service(namespace, doc)
    assert isinstance(k8s.apps.read_namespaced_stateful_set("postgresql", namespace), kclient.V1StatefulSet)
    up = probe_until(run_module, dict(conn, targets=[dict(target, contains='"ok"')], samples=5),
                     lambda r: r["healthy"], timeout=120)
    assert up["healthy"] is True
    stats = up["targets"][0]["latency_ms"]
    assert up["targets"][0]["responses"] == 5 and stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]


def test_service_proxy_and_direct_url_in_one_call(run_module, k8s, cluster, conn, namespace, workload, health):
    workload(namespace)
    assert_pods_reachable(k8s, cluster, namespace)
    result = run_module("health_probe", dict(conn, samples=10, targets=[
        {"name": "direct", "url": f"{health}/health?namespace={namespace}"},
        {"name": "proxied", "service": dict(HEALTH_SERVICE, port="http", path=f"/health?namespace={namespace}")},
        {"name": "app-service", "service": {"namespace": namespace, "name": "paperless-maverick-service",
                                            "port": 80, "path": "/health"}},
    ]))
    assert result["healthy"] is True, result["unhealthy"]
    for target in result["targets"]:
        assert target["responses"] == 10 and target["status_codes"] == [200]


def test_service_proxy_failures_are_one_clear_line(run_module, conn, namespace):
    missing = run_module("health_probe", dict(conn, targets=[
        {"service": {"namespace": namespace, "name": "nope", "port": 80, "path": "/health"}}]), expect_failure=True)
    assert missing["msg"].startswith(f"Failed to probe {namespace}/nope:80/health: ")
    assert 'services "nope" not found' in missing["msg"]

    token = "probe-token-5d1c0e7a9b"
    unreachable = run_module("health_probe", {"host": "https://127.0.0.1:1", "api_key": token, "targets": [
        {"service": HEALTH_SERVICE}], "retries": 0}, expect_failure=True)
    assert "Kubernetes API server at https://127.0.0.1:1 is unreachable" in unreachable["msg"]
    assert "\n" not in unreachable["msg"] and token not in json.dumps(unreachable)

    bad_context = run_module("health_probe", dict(conn, context="nope", targets=[{"service": HEALTH_SERVICE}]),
                             expect_failure=True)
    assert bad_context["msg"].startswith("Failed to load kubeconfig: context 'nope' is not defined")


# -- metrics_probe -----------------------------------------------------------
def test_queue_depth_over_threshold_is_a_breach(run_module, conn, namespace, health):
    set_queue_depth(health, namespace, 150)
    args = {"url": f"{health}/metrics?namespace={namespace}", "names": ["embedding_queue_depth"],
            "thresholds": {"embedding_queue_depth": {"max": 100}}}
    result = run_module("metrics_probe", args)
    assert result["changed"] is False
    assert result["samples"] == [{"name": "embedding_queue_depth", "labels": {"queue": "embedding"}, "value": 150.0,
                                  "type": "gauge", "family": "embedding_queue_depth"}]
    assert result["metrics"] == {"embedding_queue_depth": 150.0}
    assert result["breaches"] == [{"name": "embedding_queue_depth", "labels": {"queue": "embedding"},
                                   "value": 150.0, "bound": "max", "limit": 100.0}]

    failed = run_module("metrics_probe", dict(args, fail_on_breach=True), expect_failure=True)
    assert failed["msg"] == ('Failed to keep metrics within thresholds: 1 breach(es): '
                             'embedding_queue_depth{queue="embedding"} = 150 (over 100)')

    set_queue_depth(health, namespace, 7)
    proxied = run_module("metrics_probe", dict(conn, service=dict(HEALTH_SERVICE, path=f"/metrics?namespace={namespace}"),
                                               names=["embedding_queue_depth", "embedding_processing_duration_seconds",
                                                      "embedding_jobs_processed_total"],
                                               thresholds={"embedding_queue_depth": {"max": 100}}), check_mode=True)
    assert proxied["metrics"]["embedding_queue_depth"] == 7.0 and proxied["breaches"] == []
    names = [s["name"] for s in proxied["samples"]]
    assert names.count("embedding_processing_duration_seconds_bucket") >= 2
    assert {s["labels"]["status"] for s in proxied["samples"] if s["name"] == "embedding_jobs_processed_total"} == \
        {"success", "failed"}
    assert proxied["missing"] == []


def test_all_pods_returns_one_sample_set_per_pod(run_module, k8s, cluster, conn, namespace, workload, health):
    workload(namespace)
    assert_pods_reachable(k8s, cluster, namespace)
    set_queue_depth(health, namespace, 120)
    result = run_module("metrics_probe", dict(
        conn, service={"namespace": namespace, "name": "paperless-maverick-service", "port": "metrics"},
        all_pods=True, names=["embedding_queue_depth", "worker_jobs_processed_total"],
        thresholds={"embedding_queue_depth": {"max": 100}}))
    pods = {p.metadata.name for p in k8s.core.list_namespaced_pod(namespace, label_selector="app=paperless-maverick").items
            if p.metadata.deletion_timestamp is None}
    assert len(pods) == 3 and {p["pod"] for p in result["pods"]} == pods
    for entry in result["pods"]:
        assert entry["error"] is None and entry["port"] == 9090 and entry["ready"] is True
        # each pod answers for itself; app pods process no worker jobs
        assert entry["metrics"] == {"embedding_queue_depth": 120.0, "worker_jobs_processed_total": 0.0}
        assert entry["proxy_path"] == f"/api/v1/namespaces/{namespace}/pods/{entry['pod']}:9090/proxy/metrics"
    assert sorted(b["pod"] for b in result["breaches"]) == sorted(pods)
    assert len(result["samples"]) == 6 and result["errors"] == []
