"""Triage, step two: streaming summaries of what gather.py reads. Each takes
the items one at a time and keeps counters plus bounded samples, so memory
stays flat on namespaces of thousands of pods. Pure functions and classes; no
API calls."""
from __future__ import annotations

import heapq
import re

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import meta, quantity_or_none

IMAGE_PULL_REASONS = objects.IMAGE_PULL_REASONS
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
INSUFFICIENT = re.compile(r"insufficient [a-z0-9./-]+|too many pods", re.IGNORECASE)
ERROR_WORD = re.compile(r"error", re.IGNORECASE)
MAX_PENDING_REASONS = 20
MAX_EVENT_REASONS = 50
PER_OWNER_SAMPLES = 5
NEAR_LIMIT_REPORTED = 20

# Problem classes of pods; a pod may fall in several.
PROBLEM_CLASSES = ("crash_loop", "image_pull", "config_error", "oom_killed", "not_ready", "pending",
                   "pending_insufficient", "failed")


# -- nodes ---------------------------------------------------------------------
def summarise_nodes(nodes, max_samples):
    """Counts, NotReady / pressure / unschedulable nodes, and allocatable per node (for usage)."""
    out = {"total": 0, "ready": 0, "not_ready": [], "pressure": [], "unschedulable": [], "allocatable": {}}
    for node in nodes:
        name = meta(node).get("name")
        out["total"] += 1
        ready = objects.condition(node, "Ready")
        if ready and ready.get("status") == "True":
            out["ready"] += 1
        else:
            out["not_ready"].append({
                "name": name, "status": (ready or {}).get("status", "Unknown"),
                "reason": (ready or {}).get("reason") or "", "message": ((ready or {}).get("message") or "")[:300],
                "since": (ready or {}).get("lastTransitionTime"), "pods": 0, "pod_samples": []})
        pressure = [c for c in PRESSURE_CONDITIONS if objects.is_true(node, c)]
        if pressure:
            out["pressure"].append({"name": name, "conditions": pressure, "pods": 0})
        if (node.get("spec") or {}).get("unschedulable"):
            out["unschedulable"].append(name)
        alloc = (node.get("status") or {}).get("allocatable") or {}
        out["allocatable"][name] = (quantity_or_none(alloc.get("cpu")), quantity_or_none(alloc.get("memory")))
    # bounded lists (keep the totals exact)
    out["not_ready_count"] = len(out["not_ready"])
    out["pressure_count"] = len(out["pressure"])
    out["unschedulable_count"] = len(out["unschedulable"])
    out["unschedulable"] = out["unschedulable"][:max_samples]
    return out


# -- pods: the stream summariser --------------------------------------------------
def new_owner_stats():
    stats = {key: 0 for key in PROBLEM_CLASSES}
    stats.update(total=0, ready=0, on_not_ready_nodes=0, ready_on_not_ready_nodes=0, near_limit=0, samples=[],
                 problem_pod=None, ready_pod=None)
    return stats


def merge_owner_stats(stats_list):
    """One workload's pods over its ReplicaSets: the counters added up, the samples kept (bounded)."""
    out = new_owner_stats()
    for stats in stats_list:
        for key, value in stats.items():
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] += value
        out["samples"] += [s for s in stats["samples"] if len(out["samples"]) < PER_OWNER_SAMPLES]
    return {k: v for k, v in out.items() if k not in ("problem_pod", "ready_pod")}


def container_trouble(status):
    """What a pod's container statuses show: (classes, reason, message, restarts, problem container,
    crash-looping container)."""
    classes, reason, message, restarts, problem_container, crash_container = [], "", "", 0, None, None
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        restarts += cs.get("restartCount", 0) or 0
        waiting = (cs.get("state") or {}).get("waiting") or {}
        wreason = waiting.get("reason")
        oom = "OOMKilled" in (((cs.get("lastState") or {}).get("terminated") or {}).get("reason"),
                              ((cs.get("state") or {}).get("terminated") or {}).get("reason"))
        if wreason == "CrashLoopBackOff":
            classes.append("crash_loop")
            crash_container = crash_container or cs.get("name")
        elif wreason in IMAGE_PULL_REASONS:
            classes.append("image_pull")
        elif wreason == "CreateContainerConfigError":
            classes.append("config_error")
        if oom:
            classes.append("oom_killed")
        if wreason and wreason not in ("ContainerCreating", "PodInitializing") and not reason:
            reason, message = wreason, (waiting.get("message") or "")[:300]
            problem_container = cs.get("name")
        elif oom and not reason:
            reason, problem_container = "OOMKilled", cs.get("name")
    return classes, reason, message, restarts, problem_container, crash_container


class PodSummary:
    """Consumes pods one at a time and keeps counters plus bounded samples.

    not_ready_nodes: names of nodes known to be NotReady; their pods are counted
    per node and left out of the per-owner problem counts (a failed node is not
    a bad template). usage: {(pod, container): (cpu cores, memory bytes)} from
    the metrics API, to find containers near their limits. watch_pods: names of
    pods whose container details are kept (for log selection).
    """

    def __init__(self, max_samples=20, not_ready_nodes=(), pressure_nodes=(), usage=None, threshold=0.9,
                 watch_pods=()):
        self.max_samples = max_samples
        self.not_ready_nodes = set(not_ready_nodes)
        self.pressure_nodes = set(pressure_nodes)
        self.usage = usage or {}
        self.threshold = threshold
        self.watch_pods = set(watch_pods)
        self.total = 0
        self.ready = 0
        self.restarts = 0
        self.by_phase = {}
        self.problems = {key: {"count": 0, "samples": []} for key in PROBLEM_CLASSES}
        self.pending_reasons = {}
        self.owners = {}  # "Kind/name" -> stats
        self.nodes = {}  # node -> {"pods": n, "samples": [...]} (samples only for watched nodes)
        self.near_limit = []
        self.near_limit_count = 0
        self.watched = {}  # pod name -> {"container", "previous", "classes"}

    # the per-pod work; keep it cheap
    def add(self, pod):
        md, spec, status = meta(pod), pod.get("spec") or {}, pod.get("status") or {}
        name, node = md.get("name"), spec.get("nodeName")
        phase = status.get("phase") or "Unknown"
        self.total += 1
        self.by_phase[phase] = self.by_phase.get(phase, 0) + 1
        ready_cond = objects.condition(pod, "Ready")
        ready = bool(ready_cond and ready_cond.get("status") == "True")
        self.ready += ready
        classes, reason, message, restarts, problem_container, crash_container = container_trouble(status)
        self.restarts += restarts
        reason, message = self._phase_trouble(pod, phase, ready, ready_cond, classes, reason, message)
        ref = objects.controller(pod)
        owner = f"{ref.get('kind')}/{ref.get('name')}" if ref else f"Pod/{name}"
        sample = None
        if classes:
            sample = {"name": name, "node": node, "phase": phase, "ready": ready, "restarts": restarts,
                      "reason": reason, "message": message, "classes": classes, "owner": owner}
            for key in classes:
                bucket = self.problems[key]
                bucket["count"] += 1
                if len(bucket["samples"]) < self.max_samples:
                    bucket["samples"].append(sample)
        stats = self._count_owner(owner, name, ready, node in self.not_ready_nodes, classes, sample)
        self._count_node(node, name)
        if self.usage:
            stats["near_limit"] += self._check_limits(name, spec)
        if name in self.watch_pods or (classes and stats["problem_pod"] == name) or stats["ready_pod"] == name:
            containers = [c.get("name") for c in spec.get("containers") or []]
            container = (problem_container if problem_container in containers else None) or crash_container \
                or (containers[0] if containers else None)
            self.watched[name] = {"container": container,
                                  "previous": crash_container is not None and container == crash_container,
                                  "owner": owner, "classes": classes}

    def _phase_trouble(self, pod, phase, ready, ready_cond, classes, reason, message):
        """Add the classes the phase shows (Pending, Failed, Running but not Ready); the reason and message."""
        if phase == "Pending":
            classes.append("pending")
            sched = objects.condition(pod, "PodScheduled")
            if sched and sched.get("status") == "False":
                smsg = (sched.get("message") or sched.get("reason") or "")[:300]
                reason, message = sched.get("reason") or "Unschedulable", smsg
                if INSUFFICIENT.search(smsg):
                    classes.append("pending_insufficient")
                if smsg in self.pending_reasons or len(self.pending_reasons) < MAX_PENDING_REASONS:
                    self.pending_reasons[smsg] = self.pending_reasons.get(smsg, 0) + 1
                else:
                    self.pending_reasons["(other reasons)"] = self.pending_reasons.get("(other reasons)", 0) + 1
        elif phase == "Failed":
            classes.append("failed")
            status = pod.get("status") or {}
            reason = reason or status.get("reason") or "Failed"
            message = message or (status.get("message") or "")[:300]
        elif phase == "Running" and not ready and not classes:
            # not Ready for no container failure seen above (readiness probe, node, gates)
            classes.append("not_ready")
            if not reason and ready_cond:
                reason, message = ready_cond.get("reason") or "NotReady", (ready_cond.get("message") or "")[:300]
        return reason, message

    def _count_owner(self, owner, name, ready, on_failed_node, classes, sample):
        stats = self.owners.get(owner)
        if stats is None:
            stats = self.owners[owner] = new_owner_stats()
        stats["total"] += 1
        if ready:
            stats["ready"] += 1
            stats["ready_pod"] = stats["ready_pod"] or name
        if on_failed_node:
            stats["on_not_ready_nodes"] += 1
            stats["ready_on_not_ready_nodes"] += ready
        elif classes:
            for key in classes:
                stats[key] += 1
            if len(stats["samples"]) < PER_OWNER_SAMPLES:
                stats["samples"].append(sample)
            if stats["problem_pod"] is None:
                stats["problem_pod"] = name
        return stats

    def _count_node(self, node, name):
        if not node:
            return
        per_node = self.nodes.get(node)
        if per_node is None:
            per_node = self.nodes[node] = {"pods": 0, "samples": []}
        per_node["pods"] += 1
        watched = node in self.not_ready_nodes or node in self.pressure_nodes
        if watched and len(per_node["samples"]) < PER_OWNER_SAMPLES:
            per_node["samples"].append(name)

    def _check_limits(self, name, spec):
        """Record the pod's containers that use `threshold` of a limit; return how many did."""
        found = 0
        for container in spec.get("containers") or []:
            used = self.usage.get((name, container.get("name")))
            if not used:
                continue
            limits = (container.get("resources") or {}).get("limits") or {}
            for resource, index in (("cpu", 0), ("memory", 1)):
                limit = quantity_or_none(limits.get(resource))
                if not limit or used[index] is None:
                    continue
                ratio = used[index] / limit
                if ratio >= self.threshold:
                    found += 1
                    self.near_limit_count += 1
                    item = (ratio, name, container.get("name"), resource)
                    if len(self.near_limit) < NEAR_LIMIT_REPORTED:
                        heapq.heappush(self.near_limit, item)
                    else:
                        heapq.heappushpop(self.near_limit, item)
        return found

    def result(self):
        problems = {key: value for key, value in self.problems.items() if value["count"]}
        return {
            "total": self.total, "ready": self.ready, "not_ready": self.total - self.ready,
            "restarts": self.restarts, "by_phase": self.by_phase, "problems": problems,
            "pending_reasons": self.pending_reasons,
        }

    def near_limit_result(self):
        return [{"name": n, "container": c, "resource": r, "percent": round(ratio * 100, 1)}
                for ratio, n, c, r in sorted(self.near_limit, reverse=True)]


# -- other summaries -------------------------------------------------------------
def summarise_services(services, slices, max_samples, workloads=None):
    """Services and their EndpointSlices: which Services have no ready endpoint.

    workloads: {Deployment name: pod template labels}; each Service lists the
    Deployments its selector picks (empty: it fronts nothing deployed here).
    """
    workloads = workloads or {}
    ready_by_service = {}
    for eps in slices:
        svc = (meta(eps).get("labels") or {}).get("kubernetes.io/service-name")
        if not svc:
            continue
        counts = ready_by_service.setdefault(svc, [0, 0])
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                counts[1] += 1
            else:
                counts[0] += 1
    out = {"total": 0, "without_ready_endpoints": [], "without_ready_endpoints_count": 0, "items": []}
    for svc in services:
        spec = svc.get("spec") or {}
        name = meta(svc).get("name")
        out["total"] += 1
        if spec.get("type") == "ExternalName":
            continue
        ready, not_ready = ready_by_service.get(name, (0, 0))
        selector = spec.get("selector") or {}
        item = {"name": name, "type": spec.get("type", "ClusterIP"), "selector": selector,
                "ready_endpoints": ready, "not_ready_endpoints": not_ready,
                "workloads": sorted(d for d, labels in workloads.items()
                                    if selector and all(labels.get(k) == v for k, v in selector.items()))}
        if len(out["items"]) < max_samples * 5:
            out["items"].append(item)
        # a Service without a selector has hand-made endpoints: only judge it when it has slices
        if not ready and (spec.get("selector") or name in ready_by_service):
            out["without_ready_endpoints_count"] += 1
            if len(out["without_ready_endpoints"]) < max_samples:
                out["without_ready_endpoints"].append(item)
    return out


def _event_time(event):
    series = event.get("series") or {}
    return (event.get("lastTimestamp") or series.get("lastObservedTime") or event.get("eventTime")
            or meta(event).get("creationTimestamp") or "")


def summarise_events(events, max_events):
    """Warning events: total, counts by reason, and the newest max_events (newest first)."""
    newest = []
    total = 0
    by_reason = {}
    for seq, event in enumerate(events):
        total += 1
        reason = event.get("reason") or ""
        if reason in by_reason or len(by_reason) < MAX_EVENT_REASONS:
            by_reason[reason] = by_reason.get(reason, 0) + (event.get("count") or 1)
        item = (_event_time(event)[:19], seq, event)
        if len(newest) < max_events:
            heapq.heappush(newest, item)
        elif max_events:
            heapq.heappushpop(newest, item)
    items = []
    for when, tiebreak, event in sorted(newest, key=lambda t: (t[0], t[1]), reverse=True):
        obj = event.get("involvedObject") or event.get("regarding") or {}
        items.append({"time": _event_time(event), "reason": event.get("reason"), "type": event.get("type"),
                      "object": f"{obj.get('kind')}/{obj.get('name')}",
                      "message": (event.get("message") or event.get("note") or "")[:500],
                      "count": event.get("count") or 1})
    return {"warning_total": total, "by_reason": by_reason, "items": items}


def count_error_lines(text):
    lines = text.splitlines()
    errors = [line for line in lines if ERROR_WORD.search(line)]
    return lines, errors
