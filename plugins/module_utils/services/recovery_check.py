"""The recovery_check module: the runbook's quick check after a recovery as one step - every rollout complete,
no workload still affected (triage), the endpoints healthy with latency samples, the queue depth within its
threshold, a bounded load burst - the independent parts at once, each by the service of its own module."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.services import (
    health_probe, metrics_probe, rollout, triage)

METRICS_DEFAULTS = {"url": None, "url_validate_certs": True, "service": None, "all_pods": False, "names": [],
                    "thresholds": {}, "timeout": 10, "fail_on_breach": False}


def operation(ctx):
    p = ctx.params

    def run(part_of, **params):
        return ctx.run_part(part_of.operation, **params)

    def rolled_out(name):
        try:
            return run(rollout, action="status", kind="Deployment", name=name, namespace=p["namespace"], wait=p["wait"],
                       wait_timeout=p["wait_timeout"], wait_sleep=p["wait_sleep"],
                       fail_fast_grace=p["fail_fast_grace"], incident_dir=None, to_revision=None, reason=None)
        except EmergencyError as exc:  # a rollout that did not complete is a failure of the check, not of the step
            return {"changed": False, "failed": True, "name": name, "msg": str(exc)}

    def probe(targets, samples):
        return run(health_probe, targets=targets, samples=samples, max_latency_ms=p["max_latency_ms"],
                   **health_probe.DEFAULTS)

    deployments = p["deployments"] or []
    # Names are checked before any request: a bad one is the caller's error, not a failed rollout.
    resources.segment(p["namespace"], "namespace", "label")
    for index, name in enumerate(deployments):
        resources.segment(name, f"deployments[{index}]")
    result = {"changed": False, "health": None, "metrics": None, "load": None}
    with ThreadPoolExecutor(max(3, len(deployments))) as pool:
        # The rollouts first: what follows looks at the workload they leave.
        result["rollouts"] = list(pool.map(rolled_out, deployments))
        triaged = pool.submit(run, triage, namespace=p["namespace"])
        metrics = pool.submit(run, metrics_probe, **dict(METRICS_DEFAULTS, **(p["metrics"] or {}))) \
            if p["metrics"] else None
        if p["health_targets"]:
            result["health"] = probe(p["health_targets"], p["samples"])
            if p["load_requests"] > 0:  # after the latency samples, which it would disturb
                result["load"] = probe(p["health_targets"][:1], p["load_requests"])
        result["triage"] = triaged.result()
        result["metrics"] = metrics.result() if metrics else None
    result["failures"] = failures(result)
    result["passed"] = not result["failures"]
    return result


def failures(result):
    """What failed, one line each: the rollouts' messages, the evidence of workloads still affected (a NotReady node
    or a Service that no option repairs is reported by triage but is no reason to call the recovery failed), the
    unhealthy endpoints, a queue over its threshold, a failed burst."""
    found = [r["msg"] for r in result["rollouts"] if r.get("failed")]
    found += [line for finding in result["triage"].get("findings", []) if finding.get("options")
              for line in finding.get("evidence", [])]
    if result["health"] is not None and not result["health"].get("healthy"):
        found.append("endpoints unhealthy: " + ", ".join(result["health"].get("unhealthy") or []))
    if result["metrics"] is not None and result["metrics"].get("breaches"):
        found.append("queue depth over threshold")
    if result["load"] is not None and not result["load"].get("healthy"):
        found.append("load burst failed")
    return found
