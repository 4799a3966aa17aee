"""Triage, step one: the reads. A read-only look at a namespace and the cluster
(the runbook's assessment phase in one call): nodes, pods, services,
deployments and their rollout history, warning events, log tails, metrics API
usage and extra targets, streamed into the summaries of summarise.py; the
verdict is verdict.py's (services/triage.py puts them together).

Lists are paginated (limit 500) and consumed item by item. Independent reads
run concurrently in three rounds:
  1. namespace, nodes, deployments, statefulsets, metrics (nodes and pods)
  2. pods, ReplicaSets, services, EndpointSlices, warning events, extra targets
  3. bounded log tails of the selected pods
"""
from __future__ import annotations

import datetime

from ansible_collections.mataresit.emergency.plugins.module_utils import workloads
from ansible_collections.mataresit.emergency.plugins.module_utils.durations import parse_duration
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, EmergencyError, NotFoundError, failing_to,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import meta, quantity_or_none
from ansible_collections.mataresit.emergency.plugins.module_utils.triage.summarise import (
    PER_OWNER_SAMPLES, PodSummary, count_error_lines, merge_owner_stats, new_owner_stats,
    summarise_events, summarise_nodes, summarise_services,
)

PAGE_SIZE = 500
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1"


# -- the gathering -----------------------------------------------------------------
class Gathering:
    """The reads of one assessment; call run() once."""

    def __init__(self, client, params, now=None):
        self.client = client
        self.namespace = params["namespace"]
        self.window = parse_duration(params.get("recent_deploy_window") or "1h", "recent_deploy_window")
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

    def _statefulsets(self):
        return list(self._list("StatefulSet", self.namespace))

    def _metrics(self):
        """(available, reason, node usage list, {(pod, container): (cpu, mem)})."""
        try:
            node_items = list(self.client.iter_list(f"{METRICS_PATH}/nodes", page_size=PAGE_SIZE))
            pod_items = self.client.iter_list(resources.path("PodMetrics", self.namespace), page_size=PAGE_SIZE)
            usage = {}
            for item in pod_items:
                pod = meta(item).get("name")
                for container in item.get("containers") or []:
                    u = container.get("usage") or {}
                    usage[(pod, container.get("name"))] = (quantity_or_none(u.get("cpu")), quantity_or_none(u.get("memory")))
        except ApiError as exc:
            if exc.status == 404:
                why = ("the metrics API (metrics.k8s.io/v1beta1) is not served by this cluster (404); "
                       "install metrics-server for usage figures")
            elif exc.status == 503:
                why = f"the metrics API is registered but unavailable (503): {exc}"
            else:
                why = f"the metrics API could not be read: {exc}"
            return False, why, [], {}
        nodes = [(meta(i).get("name"), quantity_or_none((i.get("usage") or {}).get("cpu")),
                  quantity_or_none((i.get("usage") or {}).get("memory"))) for i in node_items]
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
            for ref in meta(rs).get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == "Deployment":
                    by_owner.setdefault(ref.get("uid"), []).append(rs)
        return by_owner

    def _services(self, deployments):
        workloads = {meta(d).get("name"): ((d.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
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
            "name": meta(dep).get("name"), "desired": state["desired"], "updated": state["updated"],
            "ready": state["ready"], "available": state["available"],
            "unavailable": status.get("unavailableReplicas", 0), "complete": state["complete"],
            "failed": state["failed"], "reason": state["reason"], "message": state["message"],
            "history": history[: self.history_limit], "revision": None, "previous_revision": None,
            "new_pods": None,
        }
        if history:
            newest = dict(history[0])
            created = objects.parse_time(newest.get("created"))
            newest["age_seconds"] = int((self.now - created).total_seconds()) if created else None
            entry["revision"] = newest
            entry["previous_revision"] = history[1]["revision"] if len(history) > 1 else None
            stats = summary.owners.get(f"ReplicaSet/{newest['replicaset']}") or new_owner_stats()
            entry["new_pods"] = {k: v for k, v in stats.items() if k not in ("problem_pod", "ready_pod")}
        return entry

    def run(self):
        """The facts (everything but the verdict)."""
        with failing_to(f"triage namespace {self.namespace}"):
            _namespace_checked, nodes, deployments, statefulsets, metrics = self.client.parallel(
                [self._namespace, self._nodes, self._deployments, self._statefulsets, self._metrics])
            metrics_ok, metrics_reason, node_usage, pod_usage = metrics
            summary = PodSummary(self.max_samples, [n["name"] for n in nodes["not_ready"]],
                                 [n["name"] for n in nodes["pressure"]], pod_usage, self.threshold,
                                 watch_pods=self.logs["pods"] or ())
            calls = [lambda: self._pods(summary), self._replicasets, lambda: self._services(deployments), self._events]
            calls += [lambda t=t: self._extra_target(t) for t in self.extra_targets]
            results = self.client.parallel(calls)
            _pods_listed, rs_by_owner, services, events = results[:4]
            extra_results = results[4:]
            dep_facts, rs_owner = self._deployments_facts(deployments, rs_by_owner, summary)
            picks = self._select_logs(summary, dep_facts, rs_owner)
            picks += [p for _target_facts, p in extra_results if p]
            logs = self.client.parallel([lambda p=p: self._pick_log(*p) for p in picks]) if picks else []
        allocatable = self._place_pods_on_nodes(nodes, summary)
        facts = {
            "namespace": self.namespace,
            "recent_deploy_window": self.window,
            "nodes": nodes,
            "pods": self._pods_facts(summary, rs_owner),
            "services": services,
            "deployments": dep_facts,
            "statefulsets": [self._statefulset_facts(sts, summary) for sts in statefulsets],
            "events": events,
            "logs": logs,
            "metrics_available": metrics_ok,
            "metrics": self._metrics_facts(node_usage, allocatable, summary) if metrics_ok else None,
            "extra_targets": [target_facts for target_facts, _log_pick in extra_results],
        }
        if not metrics_ok:
            facts["metrics_reason"] = metrics_reason
        return facts

    def _deployments_facts(self, deployments, rs_by_owner, summary):
        """Per Deployment its facts (history from the ReplicaSets it owns, its pods over all of them);
        {ReplicaSet: Deployment}."""
        dep_facts, rs_owner = [], {}
        for dep in deployments:
            owned = rs_by_owner.get(meta(dep).get("uid"), [])
            for rs in owned:
                rs_owner[meta(rs).get("name")] = meta(dep).get("name")
            history = workloads.revision_history(self.client, dep, replicasets=owned)
            entry = self._deployment_facts(dep, history, summary)
            entry["pods"] = merge_owner_stats([summary.owners[f"ReplicaSet/{meta(rs).get('name')}"] for rs in owned
                                               if f"ReplicaSet/{meta(rs).get('name')}" in summary.owners])
            dep_facts.append(entry)
        return dep_facts, rs_owner

    @staticmethod
    def _statefulset_facts(sts, summary):
        state = workloads.rollout_state(dict(sts, kind="StatefulSet"))
        name = meta(sts).get("name")
        return {"name": name, "desired": state["desired"], "updated": state["updated"], "ready": state["ready"],
                "available": state["available"], "complete": state["complete"], "failed": state["failed"],
                "reason": state["reason"], "message": state["message"],
                "pods": merge_owner_stats([summary.owners[f"StatefulSet/{name}"]]
                                          if f"StatefulSet/{name}" in summary.owners else [])}

    @staticmethod
    def _pods_facts(summary, rs_owner):
        pods = summary.result()
        for info in pods["problems"].values():
            for sample in info["samples"]:
                kind, _sep, owner_name = sample["owner"].partition("/")
                if kind == "ReplicaSet" and owner_name in rs_owner:
                    sample["deployment"] = rs_owner[owner_name]
        return pods

    def _place_pods_on_nodes(self, nodes, summary):
        """Count our pods on the NotReady and pressured nodes, bound the lists; return allocatable per node."""
        for node in nodes["not_ready"]:
            per_node = summary.nodes.get(node["name"]) or {}
            node.update(pods=per_node.get("pods", 0), pod_samples=per_node.get("samples", []))
        for node in nodes["pressure"]:
            node["pods"] = (summary.nodes.get(node["name"]) or {}).get("pods", 0)
        nodes["not_ready"] = nodes["not_ready"][: self.max_samples]
        nodes["pressure"] = nodes["pressure"][: self.max_samples]
        return nodes.pop("allocatable")

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
