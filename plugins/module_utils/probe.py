"""HTTP health probing: latency sampling and percentiles, the verdict per
target, and a concurrent prober for many targets (direct URLs or in-cluster
Services reached through the Kubernetes API server's service proxy). The
health_probe module's option handling is services/health_probe.py.

Targets are probed concurrently (one thread each, bounded); the samples of one
target are taken one after another on a keep-alive connection, as the
runbook's `for i in 1..10; curl -w %{time_total}` loop does.
"""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ansible_collections.mataresit.emergency.plugins.module_utils import http
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, NotFoundError, UnreachableError,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources

httpx = optional_import("httpx")

USER_AGENT = http.PROBE_USER_AGENT
# A sample is retried only when its connection was never established (http.classify): anything the
# server answered, or failed to answer, is part of the health verdict.
# The number of retries is each target's own (option `retries`).
RETRY = http.RetryPolicy(backoff_base=0.1, backoff_cap=2.0, safe_methods=frozenset())
# Error kinds, most severe first: a target's `error` is the first kind seen in this order.
ERROR_KINDS = ("tls", "refused", "unreachable", "timeout", "connection", "unexpected_status", "body_mismatch", "slow")
MAX_WORKERS = 16
MAX_BODY_IN_RESULT = 200


# -- statistics --------------------------------------------------------------
def percentile(values, q):
    """q-th percentile (0-100) by linear interpolation between closest ranks (numpy's default).

    None for no values; always min <= p50 <= p95 <= max.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_stats(latencies_ms):
    """{min, p50, p95, max, mean} in milliseconds (rounded to µs), or None without samples."""
    if not latencies_ms:
        return None
    stats = {
        "min": min(latencies_ms),
        "p50": percentile(latencies_ms, 50),
        "p95": percentile(latencies_ms, 95),
        "max": max(latencies_ms),
        "mean": sum(latencies_ms) / len(latencies_ms),
    }
    return {key: round(value, 3) for key, value in stats.items()}


# -- targets -----------------------------------------------------------------
@dataclass
class Target:
    name: str
    url: str = None                 # direct URL
    service: dict = None            # {namespace, name, port, path, scheme} through the service proxy
    expected_status: tuple = (200,)
    samples: int = 1
    timeout: float = 5.0
    retries: int = 2
    max_latency_ms: float = None       # threshold on p95
    max_peak_latency_ms: float = None  # threshold on max
    contains: str = None
    validate_certs: bool = True

    @property
    def proxy_path(self):
        if not self.service:
            return None
        svc = self.service
        scheme = "https" if svc.get("scheme") == "https" else ""
        return resources.service_proxy_path(svc["namespace"], svc["name"], svc["port"], svc.get("path") or "/", scheme)


@dataclass
class Sample:
    status: int = None
    latency_ms: float = None
    error: str = None
    detail: str = None
    retries: int = 0
    body: str = field(default=None, repr=False)


# -- probing -----------------------------------------------------------------
class Prober:
    """Probes targets concurrently with one HTTP client per TLS setting (keep-alive, HTTP/1.1)
    for direct URLs and the shared K8sClient for service-proxy targets.

    k8s_factory is called at most once, and only when a service target exists.
    clock and sleep are injectable so tests need no real time.
    """

    def __init__(self, k8s_factory=None, transport=None, clock=time.perf_counter, sleep=time.sleep,
                 backoff=None, max_workers=MAX_WORKERS):
        self._k8s_factory = k8s_factory
        self._k8s = None
        self._transport = transport
        self._clients = {}
        self._plain_verify = True
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or (lambda attempt: http.backoff(attempt, RETRY))
        self._max_workers = max_workers

    # clients -----------------------------------------------------------------
    def k8s(self):
        if self._k8s is None:
            if self._k8s_factory is None:
                raise ConfigError("Failed to probe a service: no Kubernetes connection is configured.")
            self._k8s = self._k8s_factory()
        return self._k8s

    def http(self, verify=True):
        """The client for a TLS setting (built once; verify=True trusts the CA bundle, loaded at the first TLS use)."""
        if verify not in self._clients:
            self._clients[verify] = http.client(verify=verify, timeout=5.0, pool=64, transport=self._transport,
                                                user_agent=USER_AGENT)
        return self._clients[verify]

    def close(self):
        """Close the direct HTTP clients (the Kubernetes client belongs to whoever made it)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # probing -----------------------------------------------------------------
    def probe(self, targets):
        """Probe every target; returns {healthy, targets: [result...], unhealthy: [names]}."""
        https = {t.validate_certs for t in targets if t.url and t.url.startswith("https:")}
        # Plain-http targets share a client with the https ones; with no https target at all they
        # need no TLS settings, which spares loading the CA bundle.
        self._plain_verify = True in https
        if any(t.service for t in targets):
            self.k8s()  # build the connection once, before the threads (and fail early on bad config)
        if len(targets) == 1:
            results = [self.probe_target(targets[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self._max_workers, len(targets))) as pool:
                results = list(pool.map(self.probe_target, targets))
        unhealthy = [r["name"] for r in results if not r["healthy"]]
        return {"healthy": not unhealthy, "targets": results, "unhealthy": unhealthy}

    def probe_target(self, target):
        send = self._sender(target)
        samples = [self._sample(target, send) for _sample in range(target.samples)]
        return evaluate(target, samples)

    def _verify_for(self, target):
        if target.url.startswith("https:"):
            return target.validate_certs
        return self._plain_verify

    def _sender(self, target):
        timeout = httpx.Timeout(target.timeout)
        if target.url:
            client = self.http(self._verify_for(target))
            return lambda: client.get(target.url, timeout=timeout)
        client, path = self.k8s(), target.proxy_path
        return lambda: client.send("GET", path, timeout=timeout)

    def _sample(self, target, send):
        retries = 0
        while True:
            start = self._clock()
            try:
                response = send()
            except httpx.TransportError as exc:
                kind, _never_sent, detail = http.classify(exc)
                if retries < target.retries and http.retry_delay(1, RETRY, "GET", error=exc) is not None:
                    retries += 1
                    self._sleep(self._backoff(retries))
                    continue
                if target.service and (kind in ("refused", "unreachable", "tls")
                                       or isinstance(exc, httpx.ConnectTimeout)):
                    self._raise_api_unreachable(target, exc)
                return Sample(error=kind, detail=detail, retries=retries)
            latency_ms = (self._clock() - start) * 1000.0
            if target.service:
                proxied = self._proxy_outcome(target, response)
                if proxied is not None:
                    kind, detail = proxied
                    return Sample(status=response.status_code, latency_ms=latency_ms, error=kind, detail=detail,
                                  retries=retries)
            return Sample(status=response.status_code, latency_ms=latency_ms, retries=retries, body=response.text)

    def _raise_api_unreachable(self, target, exc):
        server = self.k8s().connection.server
        raise UnreachableError(
            f"Failed to probe {target.name}: the Kubernetes API server at {server} is unreachable "
            f"({type(exc).__name__}: {exc or 'no detail'}); check that the cluster is up and the kubeconfig/"
            "context points at it, or probe the service by URL"
        ) from exc

    @staticmethod
    def _proxy_outcome(target, response):
        """Judge an API-server-generated answer on the service proxy path.

        Returns None for an answer that came from the service itself, (kind, detail) when the API
        server could not reach the service, and raises when the request itself was refused
        (credentials, permissions, unknown namespace or service): those are not health verdicts.
        """
        status_obj = _k8s_status(response)
        if status_obj is None:
            return None
        message = status_obj.get("message") or response.reason_phrase
        reason = status_obj.get("reason") or ""
        where = f"service {target.service['namespace']}/{target.service['name']}"
        if response.status_code == 401:
            raise ApiError(f"Failed to probe {target.name}: the API server rejected the credentials "
                           "(401 Unauthorized); check the token or client certificate of the kubeconfig context",
                           status=401, reason=reason)
        if response.status_code == 403:
            raise ApiError(f"Failed to probe {target.name}: permission denied by the API server (403 Forbidden): "
                           f"{message}; the probe needs 'get' on services/proxy in namespace "
                           f"{target.service['namespace']}", status=403, reason=reason)
        if response.status_code == 404 and reason == "NotFound":
            raise NotFoundError(f"Failed to probe {target.name}: {message} (namespace or service does not exist); "
                                f"check {where}", status=404, reason=reason)
        lowered = message.lower()
        if "no endpoints available" in lowered:
            return "unreachable", f"{where} has no ready endpoints ({message})"
        if "refused" in lowered:
            return "refused", f"the API server could not reach {where}: {message}"
        if "timeout" in lowered or "timed out" in lowered or "deadline" in lowered:
            return "timeout", f"the API server could not reach {where}: {message}"
        if "x509" in lowered or "tls" in lowered or "certificate" in lowered:
            return "tls", f"the API server could not reach {where}: {message}"
        if response.status_code in (502, 503):
            return "unreachable", f"the API server could not reach {where}: {message}"
        return None


def _k8s_status(response):
    """The API server's own Status object in a response, or None (the body came from the service)."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("apiVersion") == "v1":
        return body
    return None


# -- verdict -----------------------------------------------------------------
def evaluate(target, samples):
    """Verdict for one target from its samples (pure function: the unit of the verdict rules)."""
    errors = {}
    details = {}

    def note(kind, detail=None):
        errors[kind] = errors.get(kind, 0) + 1
        if detail and kind not in details:
            details[kind] = detail

    for sample in samples:
        if sample.error:
            note(sample.error, sample.detail)
        elif sample.status not in target.expected_status:
            note("unexpected_status")
        elif target.contains is not None and target.contains not in (sample.body or ""):
            note("body_mismatch")
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    stats = latency_stats(latencies)
    slow = []
    if stats and target.max_latency_ms is not None and stats["p95"] > target.max_latency_ms:
        slow.append(f"p95 latency {stats['p95']:.1f} ms is over {target.max_latency_ms:g} ms")
    if stats and target.max_peak_latency_ms is not None and stats["max"] > target.max_peak_latency_ms:
        slow.append(f"max latency {stats['max']:.1f} ms is over {target.max_peak_latency_ms:g} ms")
    if slow:
        errors["slow"] = 1
        details["slow"] = " and ".join(slow)
    error = next((kind for kind in ERROR_KINDS if kind in errors), None)
    statuses = sorted({s.status for s in samples if s.status is not None})
    result = {
        "name": target.name,
        "url": target.url,
        "service": target.service,
        "healthy": error is None,
        "error": error,
        "message": _message(target, error, errors, details, len(samples),
                            sorted({s.status for s in samples if not s.error and s.status not in target.expected_status})),
        "status_codes": statuses,
        "expected_status": list(target.expected_status),
        "samples": len(samples),
        "responses": len(latencies),
        "errors": errors,
        "retries": sum(s.retries for s in samples),
        "latency_ms": stats,
        "max_latency_ms": target.max_latency_ms,
        "max_peak_latency_ms": target.max_peak_latency_ms,
    }
    if target.service:
        result["proxy_path"] = target.proxy_path
    last = next((s for s in reversed(samples) if s.body is not None), None)
    if error in ("unexpected_status", "body_mismatch") and last is not None:
        result["body"] = last.body[:MAX_BODY_IN_RESULT]
    return result


def _message(target, error, errors, details, total, unexpected=()):
    if error is None:
        return "healthy"
    parts = []
    for kind in ERROR_KINDS:
        if kind not in errors:
            continue
        if kind == "slow":
            parts.append(details["slow"])
        elif kind == "unexpected_status":
            expected = "/".join(str(s) for s in target.expected_status)
            seen = "/".join(str(s) for s in unexpected)
            parts.append(f"status {seen} in {errors[kind]} of {total} samples (expected {expected})")
        elif kind == "body_mismatch":
            parts.append(f"body lacks '{target.contains}' in {errors[kind]} of {total} samples")
        else:
            parts.append(f"{kind} in {errors[kind]} of {total} samples ({details.get(kind, kind)})")
    return "; ".join(parts)


def unhealthy_summary(results):
    """One line naming every unhealthy target and why."""
    bad = [r for r in results if not r["healthy"]]
    return f"{len(bad)} of {len(results)} targets unhealthy: " + "; ".join(
        f"{r['name']} ({r['error']}: {r['message']})" for r in bad)
