"""The health_probe module: targets from the options, probed concurrently
(probe.py), failing only when asked."""
from __future__ import annotations

import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.http import checked_url
from ansible_collections.mataresit.emergency.plugins.module_utils.probe import Prober, Target, unhealthy_summary

# The module-level options of a probe run as a part of another module (triage, recovery_check).
# (the caller gives targets, samples and max_latency_ms)
DEFAULTS = {"expected_status": [200], "timeout": 5, "retries": 2, "max_peak_latency_ms": None,
            "fail_on_unhealthy": False}


def build_targets(params):
    """Targets from module params: per-target options fall back to the module-level ones."""
    targets = []
    for index, spec in enumerate(params.get("targets") or []):
        def opt(key, spec=spec):
            value = spec.get(key)
            return params.get(key) if value is None else value

        url, service = spec.get("url"), spec.get("service")
        if bool(url) == bool(service):
            raise ConfigError(f"Failed to read target {index + 1}: give exactly one of 'url' or 'service'.")
        if url:
            checked_url(url, f"targets[{index}].url", f"read target {index + 1}")
        else:
            service = _service(service, index)
        expected = opt("expected_status") or [200]
        if isinstance(expected, int):
            expected = [expected]
        samples, timeout, retries = opt("samples"), opt("timeout"), opt("retries")
        if samples is None or samples < 1:
            raise ConfigError(f"Failed to read target {index + 1}: 'samples' must be at least 1.")
        if timeout is None or timeout <= 0:
            raise ConfigError(f"Failed to read target {index + 1}: 'timeout' must be a positive number of seconds.")
        name = spec.get("name") or url or f"{service['namespace']}/{service['name']}:{service['port']}{service['path']}"
        targets.append(Target(
            name=name, url=url, service=service, expected_status=tuple(int(s) for s in expected),
            samples=int(samples), timeout=float(timeout), retries=max(0, int(retries or 0)),
            max_latency_ms=opt("max_latency_ms"), max_peak_latency_ms=opt("max_peak_latency_ms"),
            contains=spec.get("contains"),
            validate_certs=True if spec.get("validate_certs") is None else bool(spec["validate_certs"]),
        ))
    if not targets:
        raise ConfigError("Failed to read targets: give at least one target with 'url' or 'service'.")
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"Failed to read targets: names must be unique, repeated: {', '.join(duplicates)}; "
                          "set 'name' on each target.")
    return targets


def _service(service, index):
    missing = [k for k in ("namespace", "name", "port") if not service.get(k) and service.get(k) != 0]
    if missing:
        raise ConfigError(f"Failed to read target {index + 1}: service needs {', '.join(missing)}.")
    port = service["port"]
    if isinstance(port, bool) or not isinstance(port, (int, str)) or (isinstance(port, str) and not port.strip()):
        raise ConfigError(f"Failed to read target {index + 1}: service port must be a number or a port name.")
    port = int(port) if isinstance(port, int) or str(port).isdigit() else str(port)
    return {
        "namespace": service["namespace"], "name": service["name"], "port": port,
        "path": "/" + (service.get("path") or "/").lstrip("/"), "scheme": service.get("scheme") or "http",
    }


def operation(ctx):
    """Probe, judge, and fail only when asked (fail_on_unhealthy)."""
    params = ctx.params
    targets = build_targets(params)
    started = time.monotonic()
    with Prober(k8s_factory=lambda: ctx.client, transport=ctx.transport) as prober:
        outcome = prober.probe(targets)
    result = dict(changed=False, duration_ms=round((time.monotonic() - started) * 1000.0, 1), **outcome)
    if params.get("fail_on_unhealthy") and not outcome["healthy"]:
        details = {k: v for k, v in result.items() if k != "changed"}
        raise EmergencyError(f"Failed to confirm health: {unhealthy_summary(outcome['targets'])}", **details)
    return result
