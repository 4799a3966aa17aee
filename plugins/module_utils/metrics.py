"""Prometheus metrics: fetch an exposition (direct URL, a Service through the API
server's service proxy, or every pod behind a Service through the pod proxy),
parse it with prometheus_client's text parser, select named samples and check
thresholds. The metrics_probe module's operation is services/metrics_probe.py."""
from __future__ import annotations

import math

from ansible_collections.mataresit.emergency.plugins.module_utils import http
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, EmergencyError, UnreachableError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources

httpx = optional_import("httpx")
prometheus_parser = optional_import("prometheus_client.parser")

ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"


# -- parsing -----------------------------------------------------------------
def _number(value):
    """JSON-safe sample value: finite numbers as float, NaN/Inf as the strings Prometheus uses."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def parse_samples(text, names=None, source="the endpoint"):
    """Samples of a Prometheus text exposition as dicts {name, labels, value, type, family}.

    names selects samples by sample name (`embedding_jobs_processed_total`,
    `..._bucket`) or by family name (`embedding_processing_duration_seconds`
    selects its buckets, sum and count); None keeps every sample.
    """
    if prometheus_parser is None:
        raise ConfigError("Failed to parse metrics: the prometheus_client Python library is missing on the "
                          "managed node; install it (pip install prometheus-client).")
    wanted = set(names) if names else None
    samples = []
    try:
        for family in prometheus_parser.text_string_to_metric_families(text):
            keep_family = wanted is None or family.name in wanted
            for sample in family.samples:
                if keep_family or sample.name in wanted:
                    samples.append({
                        "name": sample.name,
                        "labels": dict(sample.labels),
                        "value": _number(sample.value),
                        "type": family.type,
                        "family": family.name,
                    })
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise EmergencyError(f"Failed to parse metrics from {source}: not valid Prometheus text format ({exc}); "
                             "check that the URL/port serves /metrics") from exc
    return samples


def values_by_name(samples):
    """{name: value} for every sample name that occurs exactly once (an unambiguous reading)."""
    counts = {}
    for sample in samples:
        counts[sample["name"]] = counts.get(sample["name"], 0) + 1
    return {s["name"]: s["value"] for s in samples if counts[s["name"]] == 1}


def missing_names(samples, names):
    """Requested names that no sample matched (by sample or family name)."""
    seen = {s["name"] for s in samples} | {s["family"] for s in samples}
    return [n for n in names or [] if n not in seen]


def check_thresholds(samples, thresholds, pod=None):
    """Breaches of {name: {max: N, min: M}}: one entry per sample outside its bounds."""
    breaches = []
    for name, bounds in (thresholds or {}).items():
        for sample in samples:
            if name not in (sample["name"], sample["family"]) or isinstance(sample["value"], str):
                continue
            for bound in ("max", "min"):
                limit = bounds.get(bound)
                if limit is None:
                    continue
                over = sample["value"] > limit if bound == "max" else sample["value"] < limit
                if over:
                    breach = {"name": sample["name"], "labels": sample["labels"], "value": sample["value"],
                              "bound": bound, "limit": limit}
                    if pod is not None:
                        breach["pod"] = pod
                    breaches.append(breach)
    return breaches


def validate_thresholds(thresholds):
    """Normalise {name: {max, min}} (numbers only); raise ConfigError on anything else."""
    out = {}
    for name, bounds in (thresholds or {}).items():
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"max", "min"}:
            raise ConfigError(f"Failed to read thresholds: '{name}' must map to {{max: N}} and/or {{min: N}}.")
        try:
            out[name] = {k: float(v) for k, v in bounds.items() if v is not None}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Failed to read thresholds: bounds of '{name}' must be numbers.") from exc
    return out


# -- fetching ----------------------------------------------------------------
def fetch_url(web, url, timeout):
    """Exposition text from a URL; UnreachableError / ApiError with the cause."""
    try:
        response = web.get(url, timeout=httpx.Timeout(timeout), headers={"Accept": ACCEPT})
    except httpx.TransportError as exc:
        kind, _never_sent, detail = http.classify(exc)
        raise UnreachableError(f"Failed to fetch metrics from {url}: {kind} ({detail}); check the URL and that "
                               "the service is up") from exc
    if response.status_code != 200:
        raise ApiError(f"Failed to fetch metrics from {url}: HTTP {response.status_code} "
                       f"{response.reason_phrase}: {response.text.strip()[:200]}",
                       status=response.status_code, reason=response.reason_phrase)
    return response.text


def fetch_proxy(client, path, timeout, what):
    """Exposition text through the API server's service or pod proxy."""
    with failing_to(f"fetch metrics from {what}"):
        return client.request("GET", path, raw=True, timeout=httpx.Timeout(timeout))


def service_pods(client, namespace, service, port):
    """[(pod, pod_port, ready)] behind a Service: its EndpointSlices, or its selector's pods.

    port is the Service port (number or name); the answer carries each pod's target port.
    """
    with failing_to(f"read service {namespace}/{service}"):
        svc = client.get(resources.path("Service", namespace, service))
    ports = svc["spec"].get("ports") or []
    svc_port = next((p for p in ports if port in (p.get("port"), p.get("name"))), None)
    if svc_port is None:
        known = ", ".join(str(p.get("name") or p.get("port")) for p in ports) or "none"
        raise ConfigError(f"Failed to read service {namespace}/{service}: it has no port {port} (ports: {known}).")
    with failing_to(f"list endpoints of service {namespace}/{service}"):
        slices = client.list(resources.path("EndpointSlice", namespace),
                             label_selector=f"kubernetes.io/service-name={service}")
    found = {}
    for eps in slices:
        slice_port = next((p.get("port") for p in eps.get("ports") or []
                           if (p.get("name") or "") == (svc_port.get("name") or "")), None)
        for endpoint in eps.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind") == "Pod" and slice_port is not None:
                ready = (endpoint.get("conditions") or {}).get("ready") is not False
                found[ref["name"]] = (ref["name"], slice_port, ready)
    selector = svc["spec"].get("selector")
    if not found and selector:
        with failing_to(f"list pods of service {namespace}/{service}"):
            pods = client.list(resources.path("Pod", namespace),
                               label_selector=objects.selector_string({"matchLabels": selector}))
        for pod in pods:
            target = _pod_port(pod, svc_port.get("targetPort", svc_port.get("port")))
            if target is not None and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                found[pod["metadata"]["name"]] = (pod["metadata"]["name"], target, objects.is_ready(pod))
    return [found[name] for name in sorted(found)]


def _pod_port(pod, target_port):
    if isinstance(target_port, int):
        return target_port
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target_port:
                return port.get("containerPort")
    return None
