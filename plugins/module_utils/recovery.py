"""Executing a recovery plan (the findings of triage) per workload, with escalation and guardrails.

    Recovery(client, params, dry_run, warn).run() -> result

- The plan's findings are grouped by workload; workloads are recovered in parallel, a workload's own
  findings in order (one change at a time on one object).
- Each finding escalates through its options (the runbook's, or `options_by_cause`): an option is acted
  on, then validated (the rollout completes, the replicas are ready, the replacement pods are Ready -
  waits that watch and fail fast); when the action or its validation fails, the next option is tried,
  until the workload is healthy or every option was tried.
- Every step is a timeline entry of the incident (phase recover) and, when it changed something, an
  entry of the cluster's remediation log; what a step replaces is recorded in the cluster's part of
  the workspace by the same code the single-purpose modules use (rollout, scale, container_patch, pod_recycle).
- Guardrails: `hold` changes nothing (a wave gate, the cluster cap); at most `max_workloads` workloads
  are changed; at most `max_remediations_per_hour` changes a cluster in any hour, across incidents.
  A limit reached changes nothing more, is a warning, a timeline entry and a line of `still_broken`.
- In check mode the first option of each workload is sent as a server-side dry run, nothing waits.
"""
from __future__ import annotations

import datetime
import os
import threading
import time

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConfigError, EmergencyError, UnreachableError,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import replan_on_conflict
from ansible_collections.mataresit.emergency.plugins.module_utils.redact import redact
from ansible_collections.mataresit.emergency.plugins.module_utils.services import container_patch, pod_recycle, \
    rollout, scale

ACTION = "mataresit.emergency.recover"
HOUR = 3600
# option -> kinds it applies to
APPLIES = {
    "rollback": ("Deployment",),
    "restart": ("Deployment", "StatefulSet", "DaemonSet", "ExtraTarget"),
    "scale_up": ("Deployment", "StatefulSet"),
    "scale_to": ("Deployment", "StatefulSet"),
    "increase_resources": ("Deployment", "StatefulSet"),
    "recycle_pods": ("ExtraTarget",),
}
OPTIONS = tuple(APPLIES)
# A workload recovered from its first cause that has another one too gets that cause's step as well:
# replicas on a NotReady node count as ready but serve nothing until a restart puts them elsewhere.
FOLLOW_UPS = {"node_failure": "restart"}
KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ExtraTarget", "Service", "Node")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _iso(when):
    return when.isoformat(timespec="milliseconds")


def label(finding):
    if finding["kind"] == "ExtraTarget":
        return f"dependency {finding['name']} ({finding['namespace']}, {finding.get('label_selector')})"
    where = f"{finding['namespace']}/" if finding.get("namespace") else ""
    return f"{finding['kind']} {where}{finding['name']}"


def plan_options(finding, options_by_cause=None, first_option=None):
    """The options a finding escalates through: options_by_cause[oom_killed] for OOMKilled pods, else
    options_by_cause[cause], else the finding's own; first_option moved to the front; those that do not
    apply to its kind left out."""
    by_cause = options_by_cause or {}
    if "oom_killed" in (finding.get("signals") or []) and "oom_killed" in by_cause:
        options = by_cause["oom_killed"]
    else:
        options = by_cause.get(finding.get("cause"), finding.get("options") or [])
    options = list(options or [])
    if first_option and options:
        options = [first_option] + [o for o in options if o != first_option]
    unknown = [o for o in options if o not in APPLIES]
    if unknown:
        raise ConfigError(f"Failed to plan the recovery of {label(finding)}: unknown option(s) {', '.join(unknown)}; "
                          f"options are {', '.join(OPTIONS)}")
    out = []
    for option in options:
        if finding["kind"] in APPLIES[option] and option not in out:
            if option == "rollback" and not finding.get("rollback_to"):
                continue  # nothing recorded to roll back to
            out.append(option)
    return out


def normalise(plan):
    """Check each finding's identity before any path is built from it; ConfigError says which one is wrong."""
    out = []
    for index, finding in enumerate(plan or []):
        if not isinstance(finding, dict) or finding.get("kind") not in KINDS or not finding.get("name"):
            raise ConfigError(f"Failed to read plan item {index + 1}: each needs kind (one of {', '.join(KINDS)}) and "
                              "name, as triage's findings have")
        finding = dict(finding)
        if finding["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ExtraTarget"):
            if finding["kind"] == "ExtraTarget":
                resources.path("Pod", finding.get("namespace"))
                if not finding.get("label_selector"):
                    raise ConfigError(f"Failed to read plan item {index + 1}: an ExtraTarget needs label_selector")
            else:
                resources.path(finding["kind"], finding.get("namespace"), finding["name"])
        out.append(finding)
    return out


class Budget:
    """The remediations a cluster may still take this hour (None: no limit); thread-safe."""

    def __init__(self, left):
        self.left = left
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            if self.left is None:
                return True
            if self.left <= 0:
                return False
            self.left -= 1
            return True


class Recovery:
    """One run of the recover module."""

    def __init__(self, client, params, dry_run=False, warn=None):
        self.client, self.p, self.dry_run = client, params, dry_run
        self.warn = warn or (lambda message: None)
        self.cluster_dir = params.get("incident_dir")
        self.incident_dir, cluster = workspace.incident_of(self.cluster_dir)
        self.cluster = params.get("cluster") or cluster or ""
        self.limits = []
        self.lock = threading.Lock()

    # -- the record --------------------------------------------------------------------------------
    def _timeline(self, task, status, started, msg=None, summary=None, changed=False):
        if self.dry_run or not self.incident_dir:
            return
        end = _now()
        entry = {"started": _iso(started), "time": _iso(end), "duration_s": round((end - started).total_seconds(), 3),
                 "cluster": self.cluster, "play": "", "phase": "recover", "task": task, "action": ACTION,
                 "status": status, "changed": changed}
        if msg:
            entry["msg"] = str(msg)[:500]
        if summary:
            entry["summary"] = summary
        with self.lock:
            workspace.append_timeline(self.incident_dir, redact(entry))

    def _limit(self, message):
        """A guardrail reached: a warning, a timeline entry, a line of the result."""
        self.limits.append(message)
        self.warn(message)
        self._timeline(f"Guardrail: {message}", "held", _now(), msg=message)

    # -- guardrails ----------------------------------------------------------------------------------
    def _budget(self):
        """(Budget of changes left this hour, changes done in the last hour, the limit)."""
        limit = self.p.get("max_remediations_per_hour") or 0
        if limit <= 0 or self.dry_run:
            return Budget(None), 0, limit
        if not self.incident_dir:
            raise ConfigError("Failed to apply max_remediations_per_hour: it needs incident_dir (a cluster's part of "
                              "an incident workspace) to count the changes of the last hour")
        done = len(workspace.remediations_since(self.incident_dir, self.cluster, time.time() - HOUR))
        return Budget(max(0, limit - done)), done, limit

    # -- running -------------------------------------------------------------------------------------
    def run(self):
        plan = normalise(self.p.get("plan"))
        reported = [f for f in plan if not f.get("options") and f["kind"] in ("Node", "Service")]
        groups = {}
        for finding in plan:
            if finding in reported:
                continue
            options = plan_options(finding, self.p.get("options_by_cause"), self.p.get("first_option"))
            if not options and finding["kind"] in ("Node", "Service"):
                reported.append(finding)
                continue
            key = (finding["kind"], finding.get("namespace"), finding["name"])
            groups.setdefault(key, []).append(dict(finding, options=options))
        results = {key: [self._pending(f) for f in findings] for key, findings in groups.items()}
        acting = list(groups)
        held = {}
        if self.p.get("hold") and acting:
            held = {key: self.p["hold"] for key in acting}
            self._limit(f"{self.cluster or 'this cluster'} is held: {self.p['hold']}; nothing was changed")
            acting = []
        cap = self.p.get("max_workloads") or 0
        if cap > 0 and len(acting) > cap:
            message = (f"at most {cap} workload(s) may be changed in one run (max_workloads); "
                       f"{', '.join(label(groups[k][0]) for k in acting[cap:])} left for a human")
            held.update({key: message for key in acting[cap:]})
            acting = acting[:cap]
            self._limit(message)
        self.budget, done, limit = self._budget()
        if self.budget.left == 0 and acting:
            message = (f"{done} automatic change(s) on {self.cluster} in the last hour reach the limit of {limit} "
                       "(max_remediations_per_hour): a human must act; nothing was changed")
            held.update({key: message for key in acting})
            acting = []
            self._limit(message)
        for key, reason in held.items():
            for result in results[key]:
                result["held"] = reason
        if acting:
            self.client.parallel([lambda key=key: self._recover(groups[key], results[key]) for key in acting])
        return self._result(results, reported)

    def _pending(self, finding):
        return {"kind": finding["kind"], "namespace": finding.get("namespace"), "name": finding["name"],
                "cause": finding.get("cause"), "evidence": finding.get("evidence") or [],
                "options": finding["options"], "steps": [], "healthy": False, "recovered_by": None, "held": None}

    def _recover(self, findings, results):
        """One workload: its findings in order, each escalating through its options."""
        for index, (finding, result) in enumerate(zip(findings, results)):
            self._escalate(finding, result)
            if not result["healthy"] and not self.dry_run:
                # a later finding of the same workload (a backlog after a crash) would act on a broken workload
                for later in results[index + 1:]:
                    later["held"] = f"{label(finding)} is still broken"
                return

    def _escalate(self, finding, result):
        self._try(finding, result, finding["options"])
        follow_ups = [FOLLOW_UPS[c] for c in finding.get("also") or [] if FOLLOW_UPS.get(c) not in (None, result["recovered_by"])]
        if result["healthy"] and follow_ups:
            # healthy again, but another cause holds too: its pods on a NotReady node count as ready yet serve nothing
            self._try(finding, result, follow_ups[:1], follow_up=True)

    def _try(self, finding, result, options, follow_up=False):
        """Options in turn until one leaves the workload healthy (a follow-up must succeed too)."""
        for number, option in enumerate(options, start=1):
            if not self.budget.take():
                message = (f"the limit of automatic changes on {self.cluster} this hour (max_remediations_per_hour) "
                           f"was reached before {option} of {label(finding)}: a human must act")
                result["held"] = message
                self._limit(message)
                return
            step = self._step(option, finding, number, len(options), follow_up)
            result["steps"].append(step)
            if step["ok"]:
                result["healthy"] = not self.dry_run
                result["recovered_by"] = result["recovered_by"] if follow_up else option
                return
            result["healthy"] = False
            if step.get("fatal") or self.dry_run:
                return

    def _step(self, option, finding, number, total, follow_up=False):
        started = _now()
        clock = time.monotonic()
        what = f"{ACTIONS[option][0]} {label(finding)}"
        task = (f"{what} (also {', '.join(finding.get('also'))}: after {finding['cause']})" if follow_up else
                f"{what} ({finding.get('cause') or 'plan'}, option {number} of {total})")
        step = {"option": option, "action": what, "started": _iso(started), "changed": False, "ok": False}
        try:
            outcome = self._act(option, finding)
            step.update(outcome, ok=True)
        except UnreachableError as exc:
            step.update(msg=str(exc), fatal=True, changed=bool(exc.details.get("changed")))
        except EmergencyError as exc:
            step.update(msg=str(exc), changed=bool(exc.details.get("changed")))
        step["elapsed"] = round(time.monotonic() - clock, 3)
        if step["changed"] and not self.dry_run and self.incident_dir:
            workspace.append_remediation(self.incident_dir, self.cluster, {
                "incident": os.path.basename(os.path.normpath(self.incident_dir)), "workload": label(finding),
                "option": option})
        status = ("changed" if step["changed"] else "ok") if step["ok"] else "failed"
        self._timeline(task, status, started, msg=step.get("msg"), changed=step["changed"],
                       summary={k: step[k] for k in ("option", "elapsed", "revision", "replicas", "deleted")
                                if step.get(k) not in (None, [], "")})
        return step

    def _act(self, option, finding):
        """The option's action; a guarded write that lost the race with a status update is read and planned again."""
        return replan_on_conflict(lambda: ACTIONS[option][1](self, finding))

    # -- the actions (each acts, then validates; raising means the option failed) --------------------
    def _wait_args(self):
        return self.p["wait_timeout"], self.p["wait_sleep"]

    def _rollout_done(self, kind, namespace, name):
        timeout, sleep = self._wait_args()
        _obj, elapsed = workloads.wait_for_rollout(self.client, namespace, name, timeout, sleep, kind,
                                                   grace=self.p["fail_fast_grace"])
        return elapsed

    def rollback(self, finding):
        ns, name = finding["namespace"], finding["name"]
        done = rollout.undo(self.client, ns, name, to_revision=finding["rollback_to"], reason=self.p.get("reason"),
                            dry_run=self.dry_run, incident_dir=self.cluster_dir)
        out = {"changed": done["changed"], "revision": done["revision"],
               "msg": done.get("msg") or f"undone from revision {done['from_revision']} to {done['revision']}"}
        if not self.dry_run:
            self._changed_then(out, lambda: self._rollout_done("Deployment", ns, name))
        return out

    def restart(self, finding):
        kind, ns, name = finding["kind"], finding["namespace"], finding["name"]
        if kind == "ExtraTarget":
            kind, name = finding.get("controller") or self._controller_of(finding)
        before = self.client.read(kind, ns, name)
        before.setdefault("kind", kind)
        if not self.dry_run:
            rollout.backup(self.cluster_dir, "restart", before)
        workloads.restart(self.client, ns, name, reason=self.p.get("reason"), dry_run=self.dry_run, kind=kind)
        out = {"changed": True, "msg": f"restarted {kind} {ns}/{name}"}
        if not self.dry_run:
            self._changed_then(out, lambda: self._rollout_done(kind, ns, name))
        return out

    def _scale(self, finding, wanted, up=False):
        """Scale to `wanted` (never down) and wait for the replicas; with up, a count already there fails."""
        kind, ns, name = finding["kind"], finding["namespace"], finding["name"]
        current = (scale.read_scale(self.client, kind, ns, name).get("spec") or {}).get("replicas", 0)
        wanted = wanted(current)
        out = {"changed": wanted > current, "replicas": max(wanted, current)}
        if wanted > current:
            if not self.dry_run:
                scale.record(self.cluster_dir, kind, ns, name, current, wanted)
            scale.set_replicas(self.client, kind, ns, name, wanted, dry_run=self.dry_run)
            out["msg"] = f"scaled from {current} to {wanted} replicas"
        elif up:
            raise EmergencyError(f"{label(finding)} already runs {current} replicas, as many as scale_up may set "
                                 f"(max_replicas {self.p['max_replicas']})", changed=False)
        else:
            out["msg"] = f"already at {current} replicas (never scaled down)"
        if not self.dry_run:
            timeout, sleep = self._wait_args()
            self._changed_then(out, lambda: scale.wait_for_replicas(
                self.client, kind, ns, name, out["replicas"], timeout, sleep, self.p["fail_fast_grace"])[1])
        return out

    def scale_up(self, finding):
        """To scale_up_replicas[name], else double (at least one more), at most max_replicas."""
        def wanted(current):
            count = (self.p.get("scale_up_replicas") or {}).get(finding["name"])
            return min(int(max(current * 2, current + 1) if count is None else count), self.p["max_replicas"])
        return self._scale(finding, wanted, up=True)

    def scale_to(self, finding):
        wanted = (self.p.get("scale_to") or {}).get(finding["name"])
        if wanted is None:
            raise ConfigError(f"option scale_to for {label(finding)} needs scale_to.{finding['name']} (a count)")
        return self._scale(finding, lambda current: int(wanted))

    def increase_resources(self, finding):
        wanted = (self.p.get("resources") or {}).get(finding["name"])
        if not wanted or not wanted.get("container") or not wanted.get("resources"):
            raise ConfigError(f"option increase_resources for {label(finding)} needs resources.{finding['name']} "
                              "with container and resources")
        result = container_patch.patch_container(self.client, dict(
            kind=finding["kind"], namespace=finding["namespace"], name=finding["name"], container=wanted["container"],
            env=None, resources=wanted["resources"], state="present", incident_dir=self.cluster_dir,
            wait=False, wait_timeout=self.p["wait_timeout"], wait_sleep=self.p["wait_sleep"],
            fail_fast_grace=self.p["fail_fast_grace"]), dry_run=self.dry_run)
        out = {"changed": result["changed"], "msg": f"raised the resources of container {wanted['container']}"
               if result["changed"] else f"container {wanted['container']} already has these resources"}
        if not self.dry_run:
            self._changed_then(out, lambda: self._rollout_done(finding["kind"], finding["namespace"], finding["name"]))
        return out

    def recycle_pods(self, finding):
        ns, selector = finding["namespace"], finding["label_selector"]
        timeout, sleep = self._wait_args()
        try:  # known before the pods go, for the restart that may follow
            finding["controller"] = self._controller_of(finding)
        except EmergencyError:
            pass
        done = pod_recycle.recycle(self.client, ns, selector, not_ready=True, dry_run=self.dry_run, timeout=timeout,
                                   sleep=sleep, incident_dir=self.cluster_dir, grace=self.p["fail_fast_grace"])
        out = {"changed": done["changed"], "deleted": done["deleted"],
               "msg": f"recycled {len(done['deleted'])} pod(s) not ready" if done["changed"] else "no pod to recycle"}
        if not self.dry_run:
            pods = self.client.list(resources.path("Pod", ns), label_selector=selector)
            ready = sum(1 for pod in pods if objects.is_ready(pod) and not objects.is_terminating(pod))
            if not ready:
                raise EmergencyError(f"{label(finding)} still has no ready pod ({len(pods)} match) after the recycle",
                                     changed=done["changed"])
            out["msg"] += f"; {ready} pod(s) ready"
        return out

    def _controller_of(self, finding):
        """(kind, name) of the workload that controls a dependency's pods (a Deployment through its ReplicaSet)."""
        pods = self.client.list(resources.path("Pod", finding["namespace"]), label_selector=finding["label_selector"])
        for pod in pods:
            ref = objects.controller(pod)
            if ref and ref.get("kind") == "ReplicaSet":
                rs = self.client.read("ReplicaSet", finding["namespace"], ref["name"])
                ref = objects.controller(rs)
            if ref and ref.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
                return ref["kind"], ref["name"]
        raise EmergencyError(f"no controller of the pods of {label(finding)} was found to restart", changed=False)

    @staticmethod
    def _changed_then(out, validate):
        """Validate after an action: a failure keeps saying that the action changed something."""
        try:
            out["elapsed_wait"] = validate()
        except EmergencyError as exc:
            exc.details["changed"] = out["changed"]
            raise

    # -- the result -----------------------------------------------------------------------------------
    def _result(self, results, reported):
        flat = [r for group in results.values() for r in group]
        broken = []
        for r in flat:
            if r["healthy"] or self.dry_run and not r["held"]:
                continue
            tried = "; ".join(f"{s['option']}: {'ok' if s['ok'] else s.get('msg', 'failed')}" for s in r["steps"])
            why = r["held"] or (f"tried {tried}" if tried else "no option applies")
            broken.append(f"{r['kind']} {r['namespace']}/{r['name']} ({r['cause']}): {why}")
        changed = any(s["changed"] for r in flat for s in r["steps"])
        summary = []
        for r in flat:
            steps = ", ".join(f"{s['option']} {'ok' if s['ok'] else 'FAILED'}" for s in r["steps"]) or \
                ("held" if r["held"] else "nothing")
            summary.append(f"{r['kind']} {r['namespace']}/{r['name']}: {r['cause']} -> {steps}"
                           + (" -> healthy" if r["healthy"] else ""))
        summary += [f"{f['kind']} {f['name']}: {f.get('cause')} (reported for a human)" for f in reported]
        recovered = not broken
        msg = ("nothing to recover" if not flat else
               "would act: " + "; ".join(summary) if self.dry_run else
               f"recovered {len([r for r in flat if r['healthy']])} of {len(flat)}" if recovered else
               f"still broken: {'; '.join(broken)}")
        return {"changed": changed, "recovered": recovered, "workloads": flat, "still_broken": broken,
                "reported": reported, "limits": self.limits, "summary": summary, "msg": msg[:2000]}


# option -> (what it does, in the timeline's words; the action)
ACTIONS = {
    "rollback": ("Roll back", Recovery.rollback),
    "restart": ("Restart", Recovery.restart),
    "scale_up": ("Scale up", Recovery.scale_up),
    "scale_to": ("Size", Recovery.scale_to),
    "increase_resources": ("Raise the resources of", Recovery.increase_resources),
    "recycle_pods": ("Recycle the pods of", Recovery.recycle_pods),
}
