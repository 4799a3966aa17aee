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
  same endpoints answered as that pod: 500 from a pod running a bad image, so a
  Prometheus scrape of the pod fails and `up` drops to 0 for it; `/metrics` of a
  worker pod adds its own `worker_jobs_processed_total`.
- The embedding queue of each namespace is a model that moves: jobs arrive at
  `arrival_rate` a second and every Ready worker pod (app=embedding-queue-worker)
  processes `worker_rate` a second, so more workers drain it faster and the job
  counters and the processing-time histogram grow with the jobs processed.
- `POST /control/queue {"namespace": ns, "depth": N, "arrival_rate": r, "worker_rate": w}`
  sets the model (any subset); `POST /control/queue_depth {"value": N, "namespace": ns}`
  pins the depth at N (jobs still flow, the depth stays) until /control/queue;
  `POST /control/overload {"latency_ms": L, "until_replicas": R, "namespace": ns}` makes the app of ns
  answer `/health*` after L ms until its Deployment has R available replicas (an overload more replicas
  carry); `GET /control/ping` answers 200.
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
WORKER_SELECTOR = "app=embedding-queue-worker"
SYSTEM_NAMESPACE = "mataresit-system"
CACHE_SECONDS = 0.5
# The processing-time histogram: share of jobs per bucket, and the mean (the reference alert fires over 300 s p95).
DURATION_BUCKETS = (("1", 0.27), ("5", 0.975), ("+Inf", 1.0))
DURATION_MEAN_SECONDS = 2.07


class Queue:
    """The embedding queue of one namespace (see the module docstring)."""

    def __init__(self):
        self.depth = 12.0
        self.arrival_rate = 0.0  # none until a test or the demo sends jobs: an idle queue never grows
        self.worker_rate = 1.0
        self.pinned = False
        self.success = 4410.0
        self.failed = 3.0
        self.per_worker: dict = {}
        self.updated = time.monotonic()

    def advance(self, workers: list) -> None:
        now = time.monotonic()
        elapsed, self.updated = max(0.0, now - self.updated), now
        capacity = self.worker_rate * len(workers) * elapsed
        arrived = self.arrival_rate * elapsed
        if self.pinned:
            processed = min(arrived, capacity)
        else:
            processed = min(self.depth + arrived, capacity)
            self.depth = max(0.0, self.depth + arrived - processed)
        self.success += processed
        for pod in workers:
            self.per_worker[pod] = self.per_worker.get(pod, 0.0) + processed / len(workers)

    def lines(self) -> list:
        jobs = self.success + self.failed
        return [
            "# HELP embedding_queue_depth Jobs waiting in the embedding queue.",
            "# TYPE embedding_queue_depth gauge",
            f'embedding_queue_depth{{queue="embedding"}} {round(self.depth, 3):g}',
            "# HELP embedding_jobs_processed_total Embedding jobs processed.",
            "# TYPE embedding_jobs_processed_total counter",
            f'embedding_jobs_processed_total{{status="success"}} {self.success:.3f}',
            f'embedding_jobs_processed_total{{status="failed"}} {self.failed:.3f}',
            "# HELP embedding_processing_duration_seconds Time to embed one job.",
            "# TYPE embedding_processing_duration_seconds histogram",
            *[f'embedding_processing_duration_seconds_bucket{{le="{le}"}} {jobs * share:.3f}'
              for le, share in DURATION_BUCKETS],
            f"embedding_processing_duration_seconds_sum {jobs * DURATION_MEAN_SECONDS:.3f}",
            f"embedding_processing_duration_seconds_count {jobs:.3f}",
        ]


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
        self._queues: dict = {}
        # Overloaded apps: namespace -> {"latency_ms", "until_replicas"} (POST /control/overload).
        self.overload: dict = {}

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

    def overload_delay(self, namespace: str) -> float:
        """Seconds an overloaded app takes to answer: until its Deployment has the replicas that carry the load."""
        fault = self.overload.get(namespace)
        if not fault:
            return 0.0
        dep = self.deployment(namespace)
        available = ((dep or {}).get("status") or {}).get("availableReplicas") or 0
        return 0.0 if available >= fault["until_replicas"] else fault["latency_ms"] / 1000

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

    def queue(self, namespace: str) -> Queue:
        """The namespace's queue, brought up to now with the worker pods Ready at this moment."""
        workers = [p["metadata"]["name"] for p in self.pods(namespace, WORKER_SELECTOR) if pod_ready(p)]
        with self._lock:
            queue = self._queues.setdefault(namespace, Queue())
            queue.advance(workers)
            return queue

    def set_queue(self, namespace: str, depth=None, pinned=False, **rates) -> dict:
        queue = self.queue(namespace)
        with self._lock:
            if depth is not None:
                queue.depth = float(depth)
            for name, value in rates.items():
                if value is not None:
                    setattr(queue, name, float(value))
            queue.pinned = pinned
            return {"namespace": namespace, "depth": queue.depth, "arrival_rate": queue.arrival_rate,
                    "worker_rate": queue.worker_rate, "pinned": queue.pinned}

    def metrics(self, namespace: str, pod: dict | None = None) -> str:
        """The app's /metrics: the load balancer's view, or (given `pod`) what that pod answers."""
        queue = self.queue(namespace)
        with self._lock:
            lines = queue.lines()
            worker_jobs = queue.per_worker.get(pod["metadata"]["name"], 0.0) if pod else sum(queue.per_worker.values())
        lines += [
            "# HELP worker_jobs_processed_total Jobs processed by this worker.",
            "# TYPE worker_jobs_processed_total counter",
            f"worker_jobs_processed_total {worker_jobs:.3f}",
            "# HELP api_quota_usage_percent Provider quota used.",
            "# TYPE api_quota_usage_percent gauge",
            'api_quota_usage_percent{provider="gemini",type="requests"} 41',
            "# HELP database_connections_active Open database connections.",
            "# TYPE database_connections_active gauge",
            "database_connections_active 18",
            "# HELP database_connections_max Connection pool size.",
            "# TYPE database_connections_max gauge",
            "database_connections_max 50",
        ]
        if pod is None:  # the load balancer's summary; a pod's own `up` is Prometheus's scrape result
            lines += ["# HELP up Whether the target is up.", "# TYPE up gauge",
                      f'up{{job="{APP}"}} {1 if self.app_health(namespace)[0] == 200 else 0}']
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
                    bad = pod is not None and [c["image"] for c in pod["spec"]["containers"] if image_is_bad(c["image"])]
                    if bad:  # a crash-looping container answers nothing useful: the scrape fails
                        return self._send(500, {"status": "error", "reason": f"bad image {bad[0]}"})
                    return self._send(200, view.metrics(namespace, pod), "text/plain; version=0.0.4")
                if path == "/health/database":
                    return self._send(*view.database_health(db_namespace))
                if pod is not None and path in ("/health", "/ready", "/health/ready", "/health/live"):
                    bad = [c["image"] for c in pod["spec"]["containers"] if image_is_bad(c["image"])]
                    if bad:
                        return self._send(500, {"status": "error", "reason": f"bad image {bad[0]}"})
                    return self._send(200, {"status": "ok", "pod": pod["metadata"]["name"]})
                if path in ("/health", "/health/ready", "/ready", "/health/live"):
                    time.sleep(view.overload_delay(namespace))
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
            try:
                if url.path == "/control/queue_depth":
                    return self._send(200, view.set_queue(body.get("namespace", APP), body["value"], pinned=True))
                if url.path == "/control/queue":
                    return self._send(200, view.set_queue(body.get("namespace", APP), body.get("depth"),
                                                          arrival_rate=body.get("arrival_rate"),
                                                          worker_rate=body.get("worker_rate")))
                if url.path == "/control/overload":
                    view.overload[body.get("namespace", APP)] = {"latency_ms": float(body["latency_ms"]),
                                                                 "until_replicas": int(body["until_replicas"])}
                    return self._send(200, {"overload": view.overload})
            except (KeyError, TypeError, ValueError) as exc:
                return self._send(400, {"error": f"bad control request: {exc}"})
            except EmergencyError as exc:
                return self._send(503, {"status": "unknown", "reason": str(exc)})
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
