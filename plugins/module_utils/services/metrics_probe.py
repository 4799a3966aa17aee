"""The metrics_probe module: read a Prometheus exposition by URL, through a
Service, or from every pod behind a Service (metrics.py), and check thresholds."""
from __future__ import annotations

import time

from ansible_collections.mataresit.emergency.plugins.module_utils import http
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.metrics import (
    check_thresholds, fetch_proxy, fetch_url, missing_names, parse_samples, service_pods, validate_thresholds,
    values_by_name,
)


def _source(params):
    if params.get("url"):
        return http.checked_url(params["url"], "url", "read the metrics")
    svc = params.get("service") or {}
    missing = [k for k in ("namespace", "name", "port") if svc.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"Failed to read service: it needs {', '.join(missing)}.")
    return None


def _service_port(svc):
    port = svc["port"]
    return int(port) if isinstance(port, int) or str(port).isdigit() else str(port)


def operation(ctx):
    """Read the metrics, check the thresholds, and fail only when asked (fail_on_breach)."""
    params = ctx.params
    url = _source(params)
    thresholds = validate_thresholds(params.get("thresholds"))
    names = list(params.get("names") or [])
    names += [n for n in thresholds if n not in names]
    timeout = float(params.get("timeout") or 10)
    started = time.monotonic()
    result = {"changed": False}
    if url:
        verify = params.get("url_validate_certs") is not False
        with http.client(verify=verify, timeout=timeout, transport=ctx.transport,
                         user_agent=http.PROBE_USER_AGENT) as web:
            text = fetch_url(web, url, timeout)
        result.update(_reading(text, names, thresholds, url, source=url))
    else:
        svc = params["service"]
        namespace, name, port = svc["namespace"], svc["name"], _service_port(svc)
        path = "/" + (svc.get("path") or "/metrics").lstrip("/")
        scheme = "https" if svc.get("scheme") == "https" else ""
        if params.get("all_pods"):
            result.update(_all_pods(ctx.client, namespace, name, port, path, scheme, names, thresholds, timeout))
        else:
            what = f"service {namespace}/{name}:{port}"
            proxy = resources.service_proxy_path(namespace, name, port, path, scheme)
            result.update(_reading(fetch_proxy(ctx.client, proxy, timeout, what), names, thresholds, what,
                                   source=what))
            result["proxy_path"] = proxy
    result["duration_ms"] = round((time.monotonic() - started) * 1000.0, 1)
    if params.get("fail_on_breach") and result["breaches"]:
        details = {k: v for k, v in result.items() if k != "changed"}
        listed = "; ".join(
            f"{b['name']}{_labels(b['labels'])}{' on ' + b['pod'] if b.get('pod') else ''} = {b['value']:g} "
            f"({'over' if b['bound'] == 'max' else 'under'} {b['limit']:g})" for b in result["breaches"])
        raise EmergencyError(f"Failed to keep metrics within thresholds: {len(result['breaches'])} breach(es): "
                             f"{listed}", **details)
    return result


def _labels(labels):
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""


def _reading(text, names, thresholds, where, source):
    samples = parse_samples(text, names or None, source=source)
    return {
        "source": where,
        "samples": samples,
        "metrics": values_by_name(samples),
        "missing": missing_names(samples, names),
        "breaches": check_thresholds(samples, thresholds),
    }


def _all_pods(client, namespace, service, port, path, scheme, names, thresholds, timeout):
    pods = service_pods(client, namespace, service, port)
    if not pods:
        raise EmergencyError(f"Failed to fetch metrics from the pods of service {namespace}/{service}: it has no "
                             "pods (no endpoints and no pods matching its selector); check the Deployment")

    def read(pod, pod_port, ready):
        proxy = _pod_proxy_path(namespace, pod, pod_port, path, scheme)
        entry = {"pod": pod, "port": pod_port, "ready": ready, "proxy_path": proxy}
        try:
            text = fetch_proxy(client, proxy, timeout, f"pod {namespace}/{pod}:{pod_port}")
            samples = parse_samples(text, names or None, source=f"pod {namespace}/{pod}")
        except EmergencyError as exc:
            entry.update(error=str(exc), samples=[], metrics={}, missing=list(names), breaches=[])
            return entry
        entry.update(error=None, samples=samples, metrics=values_by_name(samples),
                     missing=missing_names(samples, names), breaches=check_thresholds(samples, thresholds, pod))
        return entry

    per_pod = client.parallel([lambda p=p: read(*p) for p in pods])
    if all(entry["error"] for entry in per_pod):
        raise EmergencyError(f"Failed to fetch metrics from any pod of service {namespace}/{service}: "
                             f"{per_pod[0]['error']}", pods=per_pod)
    samples = [dict(s, pod=entry["pod"]) for entry in per_pod for s in entry["samples"]]
    return {
        "source": f"pods of service {namespace}/{service}",
        "pods": per_pod,
        "samples": samples,
        "metrics": {},
        "missing": sorted({n for entry in per_pod if not entry["error"] for n in entry["missing"]}),
        "breaches": [b for entry in per_pod for b in entry["breaches"]],
        "errors": [f"{entry['pod']}: {entry['error']}" for entry in per_pod if entry["error"]],
    }


def _pod_proxy_path(namespace, pod, port, path, scheme):
    proxy = resources.pod_proxy_path(namespace, pod, port, path)
    if scheme:
        # pods/<scheme>:<name>:<port>/proxy selects the scheme the API server uses towards the pod.
        marker = f"/pods/{pod}:{port}/proxy"
        proxy = proxy.replace(marker, f"/pods/{scheme}:{pod}:{port}/proxy", 1)
    return proxy
