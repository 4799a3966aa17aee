"""The scale module: exact or relative replica counts within bounds through
the /scale subresource, waiting for ready replicas, restoring the count
recorded in the incident workspace, and the runbook's drain cycle."""
from __future__ import annotations

import re
import time

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, waiter

SCALE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
CATEGORY = workspace.SCALE
_REPLICAS = re.compile(r"^\s*([+-]?)\s*(\d+)\s*$")


def parse_replicas(replicas):
    """(sign, number) of a replica count: an exact count (6, "6") or a string with an explicit sign ("+3", "-1")."""
    if isinstance(replicas, bool) or not isinstance(replicas, (int, str)):
        raise ConfigError(f"replicas must be a count like 6, '+3' or '-1', not {replicas!r}")
    if isinstance(replicas, int):
        if replicas < 0:
            raise ConfigError(f"replicas {replicas} is a negative count; to scale down relative to the current count "
                              f"give a string with its sign (replicas: \"{replicas}\"), or give the exact count")
        return "", replicas
    match = _REPLICAS.match(replicas)
    if not match:
        raise ConfigError(f"replicas must be a count like 6, '+3' or '-1', not {replicas!r}")
    return match.group(1), int(match.group(2))


def target_replicas(replicas, current, min_replicas=None, max_replicas=None):
    """Target count from an exact (6, "6") or relative ("+3", "-1": strings only) value, clamped to the bounds.

    Returns (target, bounded) where bounded says a bound changed the result.
    """
    if min_replicas is not None and min_replicas < 0 or max_replicas is not None and max_replicas < 0:
        raise ConfigError("min_replicas and max_replicas must not be negative")
    if min_replicas is not None and max_replicas is not None and min_replicas > max_replicas:
        raise ConfigError(f"min_replicas ({min_replicas}) is greater than max_replicas ({max_replicas})")
    sign, number = parse_replicas(replicas)
    wanted = current + number if sign == "+" else current - number if sign == "-" else number
    target = wanted
    if min_replicas is not None:
        target = max(target, min_replicas)
    if max_replicas is not None:
        target = min(target, max_replicas)
    if target < 0:
        raise ConfigError(f"replicas {replicas!r} from the current {current} would give {wanted}; "
                          "set min_replicas or a smaller step")
    return target, target != wanted


def read_scale(client, kind, namespace, name):
    """The /scale subresource (spec.replicas, status.replicas); clear 404s."""
    return client.read(kind, namespace, name, "scale")


def autoscaler_for(client, kind, namespace, name):
    """The HorizontalPodAutoscaler that manages this workload, as {name, min_replicas, max_replicas}, or None."""
    hpas = client.get_or_none(resources.path("HorizontalPodAutoscaler", namespace)) or {}
    for hpa in hpas.get("items") or []:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == kind and ref.get("name") == name:
            return {"name": hpa["metadata"]["name"], "min_replicas": hpa["spec"].get("minReplicas", 1),
                    "max_replicas": hpa["spec"]["maxReplicas"]}
    return None


def autoscaler_warning(autoscaler, kind, namespace, name, target):
    """Why a count outside the HPA's range will not stay (None when it will)."""
    if autoscaler is None or autoscaler["min_replicas"] <= target <= autoscaler["max_replicas"]:
        return None
    return (f"HorizontalPodAutoscaler {namespace}/{autoscaler['name']} keeps {kind.lower()} {name} between "
            f"{autoscaler['min_replicas']} and {autoscaler['max_replicas']} replicas and will move {target} back "
            "into that range; change the autoscaler's bounds for the incident if the count must hold")


def set_replicas(client, kind, namespace, name, replicas, dry_run=False):
    """Set the count through /scale (a count, not a step: safe to repeat through an API server outage)."""
    return client.patch(resources.path(kind, namespace, name, "scale"), {"spec": {"replicas": replicas}},
                        patch_type="merge", dry_run=dry_run, retry_safe=True)


def replicas_state(obj, target):
    """Whether a workload runs exactly `target` ready replicas (and the controller saw the change)."""
    status = obj.get("status") or {}
    observed = status.get("observedGeneration", 0) >= (obj.get("metadata") or {}).get("generation", 0)
    ready, total = status.get("readyReplicas", 0), status.get("replicas", 0)
    return {"done": observed and ready == target and total == target, "ready": ready, "replicas": total,
            "target": target, "observed_generation_ok": observed}


def wait_for_replicas(client, kind, namespace, name, target, timeout, sleep, grace=waiter.DEFAULT_GRACE):
    """Wait until `target` replicas exist and are ready; return (object, elapsed) or raise WaitTimeout.

    Watches the workload; new pods that stay failing (CrashLoopBackOff, OOMKilled, ...) for `grace`
    seconds end the wait at once (WaitFailed)."""
    deadline = waiter.Deadline(timeout)
    what = f"scaling {kind.lower()} {namespace}/{name} to {target}"
    rules = [waiter.failing_pods(lambda obj: workloads.new_pods(client, obj), grace, lambda obj: what)] \
        if kind in ("Deployment", "StatefulSet") else []
    obj, _state = waiter.wait(
        workloads.rollout_source(client, kind, namespace, name, deadline, sleep),
        lambda obj: replicas_state(obj, target), deadline,
        describe=lambda obj, state: (f"{kind.lower()} {namespace}/{name} has {state['ready']} ready of "
                                     f"{state['replicas']} replicas, not {target}", ""),
        pods=lambda obj: waiter.workload_pod_problems(client, obj),
        hint="raise wait_timeout or inspect the pods (pending pods, crash loops, quota)", fail_fast=rules)
    return obj, deadline.elapsed()


def record(incident_dir, kind, namespace, name, previous, replicas):
    """Record a replica change; the first count seen in this workspace stays as original_replicas."""
    if not incident_dir:
        return None
    parts = [namespace, kind.lower(), name]
    earlier = workspace.latest(incident_dir, CATEGORY, parts) or {}
    original = earlier.get("original_replicas", previous)
    return workspace.record(incident_dir, CATEGORY, parts, {
        "kind": kind, "namespace": namespace, "name": name, "previous_replicas": previous,
        "replicas": replicas, "original_replicas": original})


def recorded_replicas(incident_dir, kind, namespace, name):
    """The original replica count recorded for a workload in the incident workspace, or None."""
    found = workspace.latest(incident_dir, CATEGORY, [namespace, kind.lower(), name]) if incident_dir else None
    return None if found is None else found.get("original_replicas")


class _Scaler:
    """One workload's scale operations for a module run."""

    def __init__(self, ctx):
        p = ctx.params
        self.ctx, self.client, self.p = ctx, ctx.client, p
        self.kind, self.ns, self.name = p["kind"], p["namespace"], p["name"]
        self.dry_run = ctx.check_mode

    def scale_to(self, current, target, wait=True):
        """Scale (recording the count it replaces first); return (backup_path, elapsed)."""
        if target == current:
            return None, 0
        backup = None if self.dry_run else record(self.p["incident_dir"], self.kind, self.ns, self.name, current, target)
        set_replicas(self.client, self.kind, self.ns, self.name, target, dry_run=self.dry_run)
        if not wait or self.dry_run:
            return backup, 0
        elapsed = wait_for_replicas(self.client, self.kind, self.ns, self.name, target,
                                    self.p["wait_timeout"], self.p["wait_sleep"], self.p["fail_fast_grace"])[1]
        return backup, elapsed

    def run(self):
        p = self.p
        scale, autoscaler = self.client.parallel([
            lambda: read_scale(self.client, self.kind, self.ns, self.name),
            lambda: autoscaler_for(self.client, self.kind, self.ns, self.name),
        ])
        current = (scale.get("spec") or {}).get("replicas", 0)
        result = {"changed": False, "kind": self.kind, "namespace": self.ns, "name": self.name,
                  "previous_replicas": current, "replicas": current, "bounded": False, "elapsed": 0,
                  "backup_path": None, "autoscaler": autoscaler}
        self.autoscaler = autoscaler
        state = p["state"]
        if state == "present":
            if p["replicas"] is None:
                raise ConfigError("state=present needs 'replicas'")
            target, result["bounded"] = target_replicas(p["replicas"], current, p["min_replicas"], p["max_replicas"])
        elif state == "restore":
            target = p["previous_replicas"]
            if target is None:
                target = recorded_replicas(p["incident_dir"], self.kind, self.ns, self.name)
            if target is None:
                raise ConfigError(f"no replica count recorded for {self.kind.lower()} {self.ns}/{self.name} in "
                                  f"incident_dir {p['incident_dir'] or '(not set)'}; pass previous_replicas")
            target, result["bounded"] = target_replicas(target, current, p["min_replicas"], p["max_replicas"])
        else:
            return self.drain_cycle(current, result)
        result.update(replicas=target, changed=target != current)
        self._warn_autoscaler(result, target)
        result["diff"] = {"before": {"replicas": current}, "after": {"replicas": target}}
        try:
            result["backup_path"], result["elapsed"] = self.scale_to(current, target, wait=p["wait"])
        except EmergencyError as exc:
            exc.details.update(changed=result["changed"], previous_replicas=current)
            raise
        return result

    def _warn_autoscaler(self, result, target):
        warning = autoscaler_warning(self.autoscaler, self.kind, self.ns, self.name, target)
        if warning and target != result["previous_replicas"]:
            self.ctx.warn(warning)

    def drain_cycle(self, original, result):
        """Scale to drain_replicas, hold drain_seconds, then back to the count found (the runbook's 2 -> 60 s -> 4)."""
        p = self.p
        drain = p["drain_replicas"]
        steps = [{"replicas": drain}, {"sleep": p["drain_seconds"]}, {"replicas": original}]
        result.update(changed=drain != original, drain_replicas=drain, steps=steps)
        self._warn_autoscaler(result, drain)
        result["diff"] = {"before": {"replicas": original}, "after": {"replicas": original, "drained_to": drain}}
        if drain == original:
            return result
        backup = None if self.dry_run else record(p["incident_dir"], self.kind, self.ns, self.name, original, drain)
        result["backup_path"] = backup
        try:
            set_replicas(self.client, self.kind, self.ns, self.name, drain, dry_run=self.dry_run)
            if self.dry_run:
                return result
            start = time.monotonic()
            try:
                wait_for_replicas(self.client, self.kind, self.ns, self.name, drain,
                                  p["wait_timeout"], p["wait_sleep"], p["fail_fast_grace"])
                time.sleep(p["drain_seconds"])
            finally:  # whatever happened while drained, put the count back
                set_replicas(self.client, self.kind, self.ns, self.name, original)
            if p["wait"]:
                wait_for_replicas(self.client, self.kind, self.ns, self.name, original,
                                  p["wait_timeout"], p["wait_sleep"], p["fail_fast_grace"])
            result["elapsed"] = round(time.monotonic() - start, 3)
        except EmergencyError as exc:
            exc.details.update(changed=True, previous_replicas=original, backup_path=backup)
            raise
        return result


def check_options(p):
    """ConfigError naming the option that cannot work, before anything is read or changed."""
    if p["state"] == "present":
        if p["replicas"] is None:
            raise ConfigError("state=present needs 'replicas'")
        parse_replicas(p["replicas"])
    for option in ("previous_replicas", "drain_replicas", "drain_seconds", "min_replicas", "max_replicas"):
        if p.get(option) is not None and p[option] < 0:
            raise ConfigError(f"{option} must not be negative (it is {p[option]:g}); check '{option}'")


def operation(ctx):
    """The scale module."""
    p = ctx.params
    verb = {"present": "scale", "restore": "restore the replicas of", "drain_cycle": "drain-cycle"}[p["state"]]
    with failing_to(f"{verb} {p['kind'].lower()} {p['namespace']}/{p['name']}"):
        check_options(p)
        return _Scaler(ctx).run()
