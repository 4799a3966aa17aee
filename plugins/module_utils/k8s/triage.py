"""Read-only triage of a namespace and the cluster (the runbook's assessment
phase in one call): nodes, pods, services, deployments and their rollout
history, warning events, log tails, metrics API usage and extra targets,
summarised as a stream and judged by k8s/verdict.py.

Lists are paginated (limit 500) and consumed item by item; only counters and
bounded samples are kept, so memory stays flat on namespaces of thousands of
pods. Independent reads run concurrently in three rounds:
  1. namespace, nodes, deployments, metrics (nodes and pods)
  2. pods, ReplicaSets, services, EndpointSlices, warning events, extra targets
  3. bounded log tails of the selected pods
"""
from __future__ import annotations

import datetime
import heapq
import re
import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, ConfigError, EmergencyError, NotFoundError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils import workloads
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, verdict
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient

PAGE_SIZE = 500
IMAGE_PULL_REASONS = {"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"}
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
INSUFFICIENT = re.compile(r"insufficient [a-z0-9./-]+|too many pods", re.IGNORECASE)
ERROR_WORD = re.compile(r"error", re.IGNORECASE)
MAX_PENDING_REASONS = 20
MAX_EVENT_REASONS = 50
PER_OWNER_SAMPLES = 5
NEAR_LIMIT_REPORTED = 20
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1"

# Problem classes of pods; a pod may fall in several.
PROBLEM_CLASSES = ("crash_loop", "image_pull", "config_error", "oom_killed", "not_ready", "pending",
                   "pending_insufficient", "failed")


# -- small parsers -------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value):
    """'1h', '90m', '1h30m', '45s' or plain seconds ('3600') -> seconds (int)."""
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text))
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"Failed to read recent_deploy_window: '{value}' is not a duration; "
                          "use seconds or a form such as 30m, 1h, 1h30m")
    return int(sum(float(n) * _UNITS[u] for n, u in parts))


_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(value):
    """A Kubernetes quantity ('250m', '1Gi', '123456n', '2') as a float, or None."""
    if value is None:
        return None
    match = _QUANTITY.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def parse_time(value):
    if not value:
        return None
    try:
        return datetime.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _meta(obj):
    return obj.get("metadata") or {}


def _controller(obj):
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("kind"), ref.get("name")
    return None, None


# -- nodes ---------------------------------------------------------------------
def summarise_nodes(nodes, max_samples):
    """Counts, NotReady / pressure / unschedulable nodes, and allocatable per node (for usage)."""
    out = {"total": 0, "ready": 0, "not_ready": [], "pressure": [], "unschedulable": [], "allocatable": {}}
    for node in nodes:
        name = _meta(node).get("name")
        out["total"] += 1
        ready = objects.condition(node, "Ready")
        if ready and ready.get("status") == "True":
            out["ready"] += 1
        else:
            out["not_ready"].append({
                "name": name, "status": (ready or {}).get("status", "Unknown"),
                "reason": (ready or {}).get("reason") or "", "message": ((ready or {}).get("message") or "")[:300],
                "since": (ready or {}).get("lastTransitionTime"), "pods": 0, "pod_samples": []})
        pressure = [c for c in PRESSURE_CONDITIONS if (objects.condition(node, c) or {}).get("status") == "True"]
        if pressure:
            out["pressure"].append({"name": name, "conditions": pressure, "pods": 0})
        if (node.get("spec") or {}).get("unschedulable"):
            out["unschedulable"].append(name)
        alloc = (node.get("status") or {}).get("allocatable") or {}
        out["allocatable"][name] = (parse_quantity(alloc.get("cpu")), parse_quantity(alloc.get("memory")))
    # bounded lists (keep the totals exact)
    out["not_ready_count"] = len(out["not_ready"])
    out["pressure_count"] = len(out["pressure"])
    out["unschedulable_count"] = len(out["unschedulable"])
    out["unschedulable"] = out["unschedulable"][:max_samples]
    return out


# -- pods: the stream summariser --------------------------------------------------
def _new_owner_stats():
    stats = {key: 0 for key in PROBLEM_CLASSES}
    stats.update(total=0, ready=0, on_not_ready_nodes=0, samples=[], problem_pod=None, ready_pod=None)
    return stats


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
        md, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
        name = md.get("name")
        node = spec.get("nodeName")
        phase = status.get("phase") or "Unknown"
        self.total += 1
        self.by_phase[phase] = self.by_phase.get(phase, 0) + 1
        ready_cond = objects.condition(pod, "Ready")
        ready = bool(ready_cond and ready_cond.get("status") == "True")
        if ready:
            self.ready += 1

        classes, reason, message, restarts, problem_container = [], "", "", 0, None
        crash_container = None
        statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
        for cs in statuses:
            restarts += cs.get("restartCount", 0) or 0
            waiting = (cs.get("state") or {}).get("waiting") or {}
            wreason = waiting.get("reason")
            last = (cs.get("lastState") or {}).get("terminated") or {}
            current = (cs.get("state") or {}).get("terminated") or {}
            if wreason == "CrashLoopBackOff":
                classes.append("crash_loop")
                crash_container = crash_container or cs.get("name")
            elif wreason in IMAGE_PULL_REASONS:
                classes.append("image_pull")
            elif wreason == "CreateContainerConfigError":
                classes.append("config_error")
            if "OOMKilled" in (last.get("reason"), current.get("reason")):
                classes.append("oom_killed")
            if wreason and wreason not in ("ContainerCreating", "PodInitializing") and not reason:
                reason, message = wreason, (waiting.get("message") or "")[:300]
                problem_container = cs.get("name")
            elif "OOMKilled" in (last.get("reason"), current.get("reason")) and not reason:
                reason, problem_container = "OOMKilled", cs.get("name")
        self.restarts += restarts

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
            reason = reason or status.get("reason") or "Failed"
            message = message or (status.get("message") or "")[:300]
        elif phase == "Running" and not ready and not classes:
            # not Ready for no container failure seen above (readiness probe, node, gates)
            classes.append("not_ready")
            if not reason and ready_cond:
                reason, message = ready_cond.get("reason") or "NotReady", (ready_cond.get("message") or "")[:300]

        kind, owner_name = _controller(pod)
        owner = f"{kind}/{owner_name}" if kind else f"Pod/{name}"
        on_failed_node = node in self.not_ready_nodes
        sample = None
        if classes:
            sample = {"name": name, "node": node, "phase": phase, "ready": ready, "restarts": restarts,
                      "reason": reason, "message": message, "classes": classes, "owner": owner}
            for key in classes:
                bucket = self.problems[key]
                bucket["count"] += 1
                if len(bucket["samples"]) < self.max_samples:
                    bucket["samples"].append(sample)

        stats = self.owners.get(owner)
        if stats is None:
            stats = self.owners[owner] = _new_owner_stats()
        stats["total"] += 1
        if ready:
            stats["ready"] += 1
            stats["ready_pod"] = stats["ready_pod"] or name
        if on_failed_node:
            stats["on_not_ready_nodes"] += 1
        elif classes:
            for key in classes:
                stats[key] += 1
            if len(stats["samples"]) < PER_OWNER_SAMPLES:
                stats["samples"].append(sample)
            if stats["problem_pod"] is None:
                stats["problem_pod"] = name

        if node:
            per_node = self.nodes.get(node)
            if per_node is None:
                per_node = self.nodes[node] = {"pods": 0, "samples": []}
            per_node["pods"] += 1
            if (on_failed_node or node in self.pressure_nodes) and len(per_node["samples"]) < PER_OWNER_SAMPLES:
                per_node["samples"].append(name)

        if self.usage:
            self._check_limits(name, spec)
        if name in self.watch_pods or (classes and stats["problem_pod"] == name) or stats["ready_pod"] == name:
            containers = [c.get("name") for c in spec.get("containers") or []]
            container = (problem_container if problem_container in containers else None) or crash_container \
                or (containers[0] if containers else None)
            self.watched[name] = {"container": container, "previous": crash_container is not None and container == crash_container,
                                  "owner": owner, "classes": classes}

    def _check_limits(self, name, spec):
        for container in spec.get("containers") or []:
            used = self.usage.get((name, container.get("name")))
            if not used:
                continue
            limits = (container.get("resources") or {}).get("limits") or {}
            for resource, index in (("cpu", 0), ("memory", 1)):
                limit = parse_quantity(limits.get(resource))
                if not limit or used[index] is None:
                    continue
                ratio = used[index] / limit
                if ratio >= self.threshold:
                    self.near_limit_count += 1
                    item = (ratio, name, container.get("name"), resource)
                    if len(self.near_limit) < NEAR_LIMIT_REPORTED:
                        heapq.heappush(self.near_limit, item)
                    else:
                        heapq.heappushpop(self.near_limit, item)

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
        svc = (_meta(eps).get("labels") or {}).get("kubernetes.io/service-name")
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
        name = _meta(svc).get("name")
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
            or _meta(event).get("creationTimestamp") or "")


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


# -- the gathering -----------------------------------------------------------------
class Triage:
    """One assessment; call run() once."""

    def __init__(self, client, params, now=None):
        self.client = client
        self.namespace = params["namespace"]
        self.window = parse_duration(params.get("recent_deploy_window") or "1h")
        self.max_events = params.get("max_events", 20)
        self.max_samples = params.get("max_samples", 20)
        self.threshold = params.get("usage_threshold", 0.9)
        self.history_limit = params.get("history_limit", 10)
        self.logs = dict({"enabled": True, "deployments": None, "pods": None, "tail_lines": 100,
                          "limit_bytes": 65536, "max_pods": 5}, **{k: v for k, v in (params.get("logs") or {}).items()
                                                                   if v is not None})
        self.extra_targets = params.get("extra_targets") or []
        self.now = now or datetime.datetime.now(datetime.timezone.utc)

    def _list(self, kind, namespace=None, **kwargs):
        return self.client.iter_list(resources.path(kind, namespace), page_size=PAGE_SIZE, **kwargs)

    # round 1 ---------------------------------------------------------------
    def _namespace(self):
        try:
            return self.client.get(resources.path("Namespace", None, self.namespace))
        except NotFoundError as exc:
            raise NotFoundError(f"namespace '{self.namespace}' does not exist; check 'namespace'",
                                status=404, reason="NotFound") from exc

    def _nodes(self):
        try:
            return summarise_nodes(self._list("Node"), self.max_samples)
        except ApiError as exc:
            if exc.status != 403:
                raise
            return {"error": f"nodes could not be listed: {exc}", "total": 0, "ready": 0, "not_ready": [],
                    "pressure": [], "unschedulable": [], "allocatable": {}}

    def _deployments(self):
        return list(self._list("Deployment", self.namespace))

    def _metrics(self):
        """(available, reason, node usage list, {(pod, container): (cpu, mem)})."""
        try:
            node_items = list(self.client.iter_list(f"{METRICS_PATH}/nodes", page_size=PAGE_SIZE))
            pod_items = self.client.iter_list(resources.path("PodMetrics", self.namespace), page_size=PAGE_SIZE)
            usage = {}
            for item in pod_items:
                pod = _meta(item).get("name")
                for container in item.get("containers") or []:
                    u = container.get("usage") or {}
                    usage[(pod, container.get("name"))] = (parse_quantity(u.get("cpu")), parse_quantity(u.get("memory")))
        except ApiError as exc:
            if exc.status == 404:
                why = ("the metrics API (metrics.k8s.io/v1beta1) is not served by this cluster (404); "
                       "install metrics-server for usage figures")
            elif exc.status == 503:
                why = f"the metrics API is registered but unavailable (503): {exc}"
            else:
                why = f"the metrics API could not be read: {exc}"
            return False, why, [], {}
        nodes = [(_meta(i).get("name"), parse_quantity((i.get("usage") or {}).get("cpu")),
                  parse_quantity((i.get("usage") or {}).get("memory"))) for i in node_items]
        return True, None, nodes, usage

    # round 2 ---------------------------------------------------------------
    def _pods(self, summary):
        for pod in self._list("Pod", self.namespace):
            summary.add(pod)
        return summary

    def _replicasets(self):
        """ReplicaSets of the namespace grouped by controlling owner uid (one paginated list)."""
        by_owner = {}
        for rs in self._list("ReplicaSet", self.namespace):
            for ref in _meta(rs).get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "Deployment":
                    by_owner.setdefault(ref.get("uid"), []).append(rs)
        return by_owner

    def _services(self, deployments):
        workloads = {_meta(d).get("name"): ((d.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
                     or {} for d in deployments}
        # the slices stream into per-Service counters first, then the Services are read
        return summarise_services(self._list("Service", self.namespace), self._list("EndpointSlice", self.namespace),
                                  self.max_samples, workloads)

    def _events(self):
        return summarise_events(self._list("Event", self.namespace, field_selector="type=Warning"), self.max_events)

    def _extra_target(self, target):
        name = target.get("name") or f"{target['namespace']}/{target['label_selector']}"
        out = {"name": name, "namespace": target["namespace"], "label_selector": target["label_selector"],
               "required": target.get("required", True)}
        summary = PodSummary(max_samples=PER_OWNER_SAMPLES)
        try:
            for pod in self.client.iter_list(resources.path("Pod", target["namespace"]),
                                             label_selector=target["label_selector"], page_size=PAGE_SIZE):
                summary.add(pod)
        except EmergencyError as exc:
            out["error"] = str(exc)
            return out, None
        facts = summary.result()
        samples = []
        for info in facts["problems"].values():
            for sample in info["samples"]:
                if sample["name"] not in {s["name"] for s in samples} and len(samples) < PER_OWNER_SAMPLES:
                    samples.append(sample)
        out.update(pods=facts["total"], ready=facts["ready"], restarts=facts["restarts"],
                   by_phase=facts["by_phase"], samples=samples)
        log_pod = None
        if target.get("logs", True) and summary.watched:
            problem = [n for n, w in summary.watched.items() if w["classes"]]
            log_pod = (problem or list(summary.watched))[0]
            log_pod = (target["namespace"], log_pod, summary.watched[log_pod])
        return out, log_pod

    # round 3 ---------------------------------------------------------------
    def _log(self, namespace, pod, info):
        entry = {"namespace": namespace, "pod": pod, "container": info.get("container"), "previous": False}
        # a crash-looping container's previous instance first; the current one when none was kept
        for previous in ((True, False) if info.get("previous") else (False,)):
            try:
                text = self.client.logs(namespace, pod, container=info.get("container"), previous=previous,
                                        tail_lines=self.logs["tail_lines"], limit_bytes=self.logs["limit_bytes"])
            except EmergencyError as exc:
                entry["error"] = str(exc)
                continue
            entry.pop("error", None)
            entry["previous"] = previous
            break
        if "error" in entry:
            return entry
        lines, errors = count_error_lines(text)
        entry.update(lines=len(lines), bytes=len(text.encode("utf-8", "replace")), error_lines=len(errors),
                     error_samples=[line[:500] for line in errors[-5:]], tail=text)
        return entry

    def _select_logs(self, summary, deployments, rs_owner):
        """[(namespace, pod, info)] for the log tails: named pods, else a pod per (named) Deployment."""
        if not self.logs["enabled"] or not self.logs["max_pods"]:
            return []
        picked = []
        for pod in self.logs["pods"] or []:
            info = summary.watched.get(pod)
            picked.append((self.namespace, pod, info or {"missing": True}))
        if not self.logs["pods"] or self.logs["deployments"]:
            names = self.logs["deployments"] or [d["name"] for d in deployments]
            by_dep = {d["name"]: d for d in deployments}
            chosen = []
            for name in names:
                dep = by_dep.get(name)
                if dep is None:
                    chosen.append((self.namespace, None, {"deployment": name}))
                    continue
                pod = self._pod_of(dep, summary, rs_owner)
                if pod:
                    chosen.append((self.namespace, pod, summary.watched.get(pod, {})))
            # failing pods first, so max_pods never drops the interesting logs
            picked += sorted(chosen, key=lambda p: not (p[2].get("classes") or p[1] is None))
        return picked[: self.logs["max_pods"]]

    @staticmethod
    def _pod_of(dep, summary, rs_owner):
        """A pod of the Deployment for its log: a problem pod of the newest ReplicaSet first."""
        rs_names = [h["replicaset"] for h in dep.get("history") or []]
        for attr in ("problem_pod", "ready_pod"):
            for rs in rs_names:
                stats = summary.owners.get(f"ReplicaSet/{rs}")
                if stats and stats[attr]:
                    return stats[attr]
        return None

    # assembling --------------------------------------------------------------
    def _deployment_facts(self, dep, history, summary):
        state = workloads.rollout_state(dict(dep, kind="Deployment"))
        status = dep.get("status") or {}
        entry = {
            "name": _meta(dep).get("name"), "desired": state["desired"], "updated": state["updated"],
            "ready": state["ready"], "available": state["available"],
            "unavailable": status.get("unavailableReplicas", 0), "complete": state["complete"],
            "failed": state["failed"], "reason": state["reason"], "message": state["message"],
            "history": history[: self.history_limit], "revision": None, "previous_revision": None,
            "new_pods": None,
        }
        if history:
            newest = dict(history[0])
            created = parse_time(newest.get("created"))
            newest["age_seconds"] = int((self.now - created).total_seconds()) if created else None
            entry["revision"] = newest
            entry["previous_revision"] = history[1]["revision"] if len(history) > 1 else None
            stats = summary.owners.get(f"ReplicaSet/{newest['replicaset']}") or _new_owner_stats()
            entry["new_pods"] = {k: v for k, v in stats.items() if k not in ("problem_pod", "ready_pod")}
        return entry

    def run(self):
        start = time.monotonic()
        with failing_to(f"triage namespace {self.namespace}"):
            namespace_checked, nodes, deployments, metrics = self.client.parallel(
                [self._namespace, self._nodes, self._deployments, self._metrics])
            metrics_ok, metrics_reason, node_usage, pod_usage = metrics
            not_ready_nodes = [n["name"] for n in nodes["not_ready"]]
            pressure_nodes = [n["name"] for n in nodes["pressure"]]
            summary = PodSummary(self.max_samples, not_ready_nodes, pressure_nodes, pod_usage, self.threshold,
                                 watch_pods=self.logs["pods"] or ())
            calls = [lambda: self._pods(summary), self._replicasets, lambda: self._services(deployments), self._events]
            calls += [lambda t=t: self._extra_target(t) for t in self.extra_targets]
            results = self.client.parallel(calls)
            pods_listed, rs_by_owner, services, events = results[:4]
            extra_results = results[4:]

            dep_facts = []
            rs_owner = {}
            for dep in deployments:
                owned = rs_by_owner.get(_meta(dep).get("uid"), [])
                for rs in owned:
                    rs_owner[_meta(rs).get("name")] = _meta(dep).get("name")
                history = workloads.revision_history(self.client, dep, replicasets=owned)
                dep_facts.append(self._deployment_facts(dep, history, summary))

            picks = self._select_logs(summary, dep_facts, rs_owner)
            picks += [p for target_facts, p in extra_results if p]
            log_calls = [lambda p=p: self._pick_log(*p) for p in picks]
            logs = self.client.parallel(log_calls) if log_calls else []

        pods = summary.result()
        for info in pods["problems"].values():
            for sample in info["samples"]:
                kind, sep, owner_name = sample["owner"].partition("/")
                if kind == "ReplicaSet" and owner_name in rs_owner:
                    sample["deployment"] = rs_owner[owner_name]
        for node in nodes["not_ready"]:
            per_node = summary.nodes.get(node["name"]) or {}
            node.update(pods=per_node.get("pods", 0), pod_samples=per_node.get("samples", []))
        for node in nodes["pressure"]:
            node["pods"] = (summary.nodes.get(node["name"]) or {}).get("pods", 0)
        nodes["not_ready"] = nodes["not_ready"][: self.max_samples]
        nodes["pressure"] = nodes["pressure"][: self.max_samples]
        allocatable = nodes.pop("allocatable")

        metrics_facts = None
        if metrics_ok:
            metrics_facts = self._metrics_facts(node_usage, allocatable, summary)

        facts = {
            "namespace": self.namespace,
            "recent_deploy_window": self.window,
            "nodes": nodes,
            "pods": pods,
            "services": services,
            "deployments": dep_facts,
            "events": events,
            "logs": logs,
            "metrics_available": metrics_ok,
            "metrics": metrics_facts,
            "extra_targets": [facts for facts, log_pick in extra_results],
        }
        if not metrics_ok:
            facts["metrics_reason"] = metrics_reason
        facts.update(verdict.decide(facts))
        facts["api_requests"] = self.client.requests
        facts["duration_seconds"] = round(time.monotonic() - start, 3)
        return facts

    def _pick_log(self, namespace, pod, info):
        if pod is None:
            return {"namespace": namespace, "pod": None, "deployment": info.get("deployment"),
                    "error": f"deployment '{info.get('deployment')}' does not exist in namespace '{namespace}'"}
        if info.get("missing"):
            return {"namespace": namespace, "pod": pod, "error": f"pod '{pod}' does not exist in namespace '{namespace}'"}
        return self._log(namespace, pod, info)

    def _metrics_facts(self, node_usage, allocatable, summary):
        nodes = []
        near_capacity = []
        for name, cpu, mem in node_usage:
            alloc_cpu, alloc_mem = allocatable.get(name, (None, None))
            entry = {"name": name, "cpu_cores": round(cpu, 3) if cpu is not None else None,
                     "memory_bytes": int(mem) if mem is not None else None}
            for resource, used, alloc in (("cpu", cpu, alloc_cpu), ("memory", mem, alloc_mem)):
                if used is not None and alloc:
                    percent = round(used / alloc * 100, 1)
                    entry[f"{resource}_percent"] = percent
                    hosts_ours = (summary.nodes.get(name) or {}).get("pods", 0)
                    if used / alloc >= self.threshold and hosts_ours:
                        near_capacity.append({"name": name, "resource": resource, "percent": percent})
            if len(nodes) < self.max_samples * 5:
                nodes.append(entry)
        return {"nodes": nodes, "nodes_near_capacity": near_capacity[: self.max_samples],
                "pods_near_limit": summary.near_limit_result(), "pods_near_limit_count": summary.near_limit_count}


def triage(module, transport=None):
    """Module operation: gather, judge, return (never changes anything)."""
    client = K8sClient.from_params(module.params, module.no_log_values, transport=transport)
    with client:
        facts = Triage(client, module.params).run()
    return dict(facts, changed=False)
