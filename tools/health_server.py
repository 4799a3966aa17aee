#!/usr/bin/env python3
"""Health endpoints and /metrics whose answers follow the cluster's state.

Stands in for the Paperless Maverick app so a rollback visibly heals it:

- On the server's own address (the "load balancer" view), for the namespace
  given by `?namespace=` (default paperless-maverick):
  `/health`, `/health/ready` 503 while the Deployment `paperless-maverick` runs
  an image whose tag contains "bad" or has no available replica;
  `/health/live` 200 while any app pod is Ready; `/health/database` 200 while
  a pod labelled app=postgresql in `?db_namespace=` (default database) is Ready;
  `/metrics` Prometheus text with the metric names of the alert rules.
- On a pod IP (every pod IP is local to this server's network namespace), the
  same endpoints answered as that pod: 500 from a pod running a bad image.
- `POST /control/queue_depth {"value": N, "namespace": ns}` sets the queue depth;
  `GET /control/ping` answers 200.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient

APP = "paperless-maverick"
SYSTEM_NAMESPACE = "mataresit-system"
CACHE_SECONDS = 0.5


def image_is_bad(image: str) -> bool:
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    return "bad" in tag or "oom" in tag


def pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class ClusterView:
    """Cached reads of the few objects the answers depend on."""

    def __init__(self, client: K8sClient):
        self.client = client
        self._cache: dict = {}
        self._lock = threading.Lock()
        self.queue_depth: dict = {}

    def _cached(self, key, fetch):
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        value = fetch()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def deployment(self, namespace: str, name: str = APP):
        return self._cached(("deploy", namespace, name), lambda: self.client.get_or_none(
            f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"))

    def pods(self, namespace: str, selector: str):
        return self._cached(("pods", namespace, selector), lambda: self.client.list(
            f"/api/v1/namespaces/{namespace}/pods", label_selector=selector))

    def pod_by_ip(self, ip: str):
        def fetch():
            pods = self.client.list("/api/v1/pods", field_selector=f"status.podIP={ip}")
            return pods[0] if pods else None
        return self._cached(("ip", ip), fetch)

    def app_health(self, namespace: str) -> tuple[int, dict]:
        dep = self.deployment(namespace)
        if dep is None:
            return 503, {"status": "down", "reason": f"deployment {namespace}/{APP} not found"}
        images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
        available = (dep.get("status") or {}).get("availableReplicas") or 0
        if any(image_is_bad(i) for i in images):
            return 503, {"status": "unhealthy", "reason": f"running bad image {images[0]}", "available": available}
        if available < 1:
            return 503, {"status": "unhealthy", "reason": "no available replica", "available": available}
        return 200, {"status": "ok", "image": images[0], "available": available}

    def database_health(self, db_namespace: str) -> tuple[int, dict]:
        ready = [p["metadata"]["name"] for p in self.pods(db_namespace, "app=postgresql") if pod_ready(p)]
        if not ready:
            return 503, {"status": "down", "reason": f"no ready postgresql pod in namespace {db_namespace}"}
        return 200, {"status": "ok", "ready_pods": len(ready)}

    def metrics(self, namespace: str, pod: dict | None = None) -> str:
        depth = self.queue_depth.get(namespace, 12)
        up = 1 if self.app_health(namespace)[0] == 200 else 0
        if pod is not None:
            up = 0 if any(image_is_bad(c["image"]) for c in pod["spec"]["containers"]) else 1
        lines = [
            "# HELP embedding_queue_depth Jobs waiting in the embedding queue.",
            "# TYPE embedding_queue_depth gauge",
            f'embedding_queue_depth{{queue="embedding"}} {depth}',
            "# HELP embedding_jobs_processed_total Embedding jobs processed.",
            "# TYPE embedding_jobs_processed_total counter",
            'embedding_jobs_processed_total{status="success"} 4410',
            f'embedding_jobs_processed_total{{status="failed"}} {3 if up else 97}',
            "# HELP worker_jobs_processed_total Jobs processed by this worker.",
            "# TYPE worker_jobs_processed_total counter",
            "worker_jobs_processed_total 1470",
            "# HELP embedding_processing_duration_seconds Time to embed one job.",
            "# TYPE embedding_processing_duration_seconds histogram",
            'embedding_processing_duration_seconds_bucket{le="1"} 1200',
            'embedding_processing_duration_seconds_bucket{le="5"} 4300',
            'embedding_processing_duration_seconds_bucket{le="+Inf"} 4413',
            "embedding_processing_duration_seconds_sum 9120.5",
            "embedding_processing_duration_seconds_count 4413",
            "# HELP api_quota_usage_percent Provider quota used.",
            "# TYPE api_quota_usage_percent gauge",
            'api_quota_usage_percent{provider="gemini",type="requests"} 41',
            "# HELP database_connections_active Open database connections.",
            "# TYPE database_connections_active gauge",
            "database_connections_active 18",
            "# HELP database_connections_max Connection pool size.",
            "# TYPE database_connections_max gauge",
            "database_connections_max 50",
            "# HELP up Whether the target is up.",
            "# TYPE up gauge",
            f'up{{job="{APP}"}} {up}',
        ]
        return "\n".join(lines) + "\n"


def make_handler(view: ClusterView, pod_network):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
        # until the client's delayed ACK (~40 ms) on every keep-alive request after the first.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # quiet; the run log keeps errors only
            pass

        def _send(self, status: int, body, content_type="application/json"):
            data = (json.dumps(body) if content_type == "application/json" else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _pod(self):
            ip = self.request.getsockname()[0]
            if ipaddress.ip_address(ip) in pod_network:
                return view.pod_by_ip(ip)
            return None

        def do_GET(self):
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                pod = self._pod()
                namespace = pod["metadata"]["namespace"] if pod else query.get("namespace", APP)
                db_namespace = query.get("db_namespace", "database")
                path = url.path.rstrip("/") or "/"
                if path == "/control/ping":
                    return self._send(200, {"status": "ok"})
                if path == "/metrics":
                    return self._send(200, view.metrics(namespace, pod), "text/plain; version=0.0.4")
                if path == "/health/database":
                    return self._send(*view.database_health(db_namespace))
                if pod is not None and path in ("/health", "/ready", "/health/ready", "/health/live"):
                    bad = [c["image"] for c in pod["spec"]["containers"] if image_is_bad(c["image"])]
                    if bad:
                        return self._send(500, {"status": "error", "reason": f"bad image {bad[0]}"})
                    return self._send(200, {"status": "ok", "pod": pod["metadata"]["name"]})
                if path in ("/health", "/health/ready", "/ready"):
                    return self._send(*view.app_health(namespace))
                if path == "/health/live":
                    live = any(pod_ready(p) for p in view.pods(namespace, f"app={APP}"))
                    return self._send(200 if live else 503, {"status": "ok" if live else "down"})
                if path == "/":
                    return self._send(200, "<html><body>Paperless Maverick</body></html>", "text/html")
                return self._send(404, {"status": "not found", "path": path})
            except EmergencyError as exc:
                return self._send(503, {"status": "unknown", "reason": str(exc)})

        def do_POST(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, {"error": "body must be JSON"})
            if url.path == "/control/queue_depth":
                view.queue_depth[body.get("namespace", APP)] = float(body["value"])
                return self._send(200, {"queue_depth": view.queue_depth})
            return self._send(404, {"status": "not found"})

    return Handler


def register_service(client: K8sClient, address: str, port: int = 80) -> None:
    """The Service `health-server` that reaches this server through the API server's service proxy.

    The service proxy only forwards to endpoints that are pods (a selector-less Service with
    hand-made Endpoints answers "no endpoints available"), so the Service selects a hostNetwork
    pod that kwok places on a node: its pod IP is the node IP (`address`), where this server listens.
    Idempotent.
    """
    from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConflictError

    base = f"/api/v1/namespaces/{SYSTEM_NAMESPACE}"
    labels = {"app": "health-server"}
    objects = [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}}),
        (f"{base}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "health-server", "labels": labels},
            "spec": {"hostNetwork": True, "containers": [{
                "name": "health-server", "image": "mataresit/health-server:local",
                "ports": [{"name": "http", "containerPort": port}]}]}}),
        (f"{base}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "health-server", "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": port, "targetPort": port}]}}),
    ]
    for path, body in objects:
        try:
            client.create(path, body)
        except ConflictError:
            pass
    deadline = time.monotonic() + 60  # until the pod is Ready and the proxy has an endpoint
    while time.monotonic() < deadline:
        endpoints = client.get_or_none(f"{base}/endpoints/health-server") or {}
        if any(subset.get("addresses") for subset in endpoints.get("subsets") or []):
            return
        time.sleep(0.5)
    raise SystemExit("Failed to register the health-server Service: its pod never became a ready endpoint.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--ports", default="8080")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--pod-cidr", required=True)
    args = parser.parse_args()
    client = K8sClient.from_params({"kubeconfig": args.kubeconfig})
    view = ClusterView(client)
    handler = make_handler(view, ipaddress.ip_network(args.pod_cidr))
    servers = []
    for port in [int(p) for p in args.ports.split(",")]:
        server = ThreadingHTTPServer((args.bind, port), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    print(f"health server on {args.bind} ports {args.ports}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
