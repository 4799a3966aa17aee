"""Builders of synthetic Kubernetes objects and a read-only fake API served
through httpx.MockTransport (the transport seam) for the triage unit tests."""
from __future__ import annotations

import datetime
import json

import httpx


def ts(minutes_ago=0.0):
    """RFC 3339 time minutes_ago before now (now at the call: a fixture built late must not look old)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return (now - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name, ready=True, pressure=(), unschedulable=False, cpu="4", memory="8Gi"):
    conditions = [{"type": "Ready", "status": "True" if ready else "Unknown",
                   "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                   "message": "" if ready else "Kubelet stopped posting node status."}]
    conditions += [{"type": c, "status": "True"} for c in pressure]
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": conditions, "allocatable": {"cpu": cpu, "memory": memory}}}


def pod(name, rs=None, node_name="node-1", phase="Running", ready=True, waiting=None, last_reason=None,
        restarts=0, pending_message=None, container="app", image="app:v1", limits=None, namespace="shop"):
    status = {"phase": phase, "conditions": []}
    if phase == "Pending" and pending_message:
        status["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": pending_message})
        node_name = None
    else:
        status["conditions"].append({"type": "Ready", "status": "True" if ready else "False",
                                     "reason": None if ready else "ContainersNotReady"})
        state = {"waiting": {"reason": waiting, "message": f"{waiting} msg"}} if waiting else {"running": {}}
        cs = {"name": container, "image": image, "ready": ready, "restartCount": restarts, "state": state}
        if last_reason:
            cs["lastState"] = {"terminated": {"reason": last_reason, "exitCode": 137 if last_reason == "OOMKilled" else 1}}
        status["containerStatuses"] = [cs]
    meta = {"name": name, "namespace": namespace}
    if rs:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs, "controller": True, "uid": f"uid-{rs}"}]
    resources = {"limits": limits} if limits else {}
    return {"metadata": meta, "spec": {"nodeName": node_name, "containers": [
        {"name": container, "image": image, "resources": resources}]}, "status": status}


def deployment(name, replicas=3, updated=None, ready=None, available=None, failed=False, uid=None, image="app:v1"):
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    available = replicas if available is None else available
    conditions = [{"type": "Available", "status": "True" if available >= replicas else "False"}]
    if failed:
        conditions.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                           "message": f'ReplicaSet "{name}-new" has timed out progressing.'})
    return {"metadata": {"name": name, "namespace": "shop", "uid": uid or f"uid-{name}", "generation": 2},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated,
                       "readyReplicas": ready, "availableReplicas": available, "conditions": conditions}}


def replicaset(name, deployment_name, revision, minutes_ago, image, change_cause=None):
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if change_cause:
        annotations["kubernetes.io/change-cause"] = change_cause
    return {"metadata": {"name": name, "namespace": "shop", "creationTimestamp": ts(minutes_ago),
                         "annotations": annotations, "labels": {"app": deployment_name},
                         "ownerReferences": [{"kind": "Deployment", "name": deployment_name, "controller": True,
                                              "uid": f"uid-{deployment_name}"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": {"replicas": 1, "readyReplicas": 0}}


def event(name, reason, minutes_ago, obj="Pod/x", message="m"):
    kind, sep, obj_name = obj.partition("/")
    return {"metadata": {"name": name}, "type": "Warning", "reason": reason, "lastTimestamp": ts(minutes_ago),
            "involvedObject": {"kind": kind, "name": obj_name}, "message": message, "count": 1}


class FakeApi:
    """Read-only API: lists (paginated with limit/continue), GETs, pod logs; records every request."""

    def __init__(self):
        self.lists = {}  # path -> items
        self.objects = {}  # path -> object
        self.logs = {}  # pod log path -> text
        self.previous_logs = {}  # pod log path -> text of the previous container instance
        self.statuses = {}  # path -> (status, body) to answer with
        self.requests = []

    def handler(self, request):
        path = request.url.path
        params = dict(request.url.params)
        self.requests.append((request.method, path, params))
        if request.method != "GET":
            return httpx.Response(405, json={"message": "read-only fake"})
        if path in self.statuses:
            status, body = self.statuses[path]
            return httpx.Response(status, json=body)
        if params.get("previous") == "true" and path.endswith("/log"):
            if path in self.previous_logs:
                return httpx.Response(200, text=self.previous_logs[path])
            return httpx.Response(400, json={"message": "previous terminated container not found", "reason": "BadRequest"})
        if path in self.logs:
            return httpx.Response(200, text=self.logs[path])
        if path in self.objects:
            return httpx.Response(200, json=self.objects[path])
        if path in self.lists:
            items = self.lists[path]
            selector = params.get("labelSelector")
            if selector:
                key, sep, value = selector.partition("=")
                items = [i for i in items if (i["metadata"].get("labels") or {}).get(key) == value]
            field = params.get("fieldSelector")
            if field:
                key, sep, value = field.partition("=")
                items = [i for i in items if i.get(key) == value]
            start = int(params.get("continue") or 0)
            limit = int(params.get("limit") or len(items) or 1)
            page = items[start:start + limit]
            meta = {"continue": str(start + limit)} if start + limit < len(items) else {}
            return httpx.Response(200, content=json.dumps({"items": page, "metadata": meta}).encode())
        if "limit" in params and not path.startswith("/apis/metrics.k8s.io"):
            return httpx.Response(200, json={"items": [], "metadata": {}})  # an empty collection
        return httpx.Response(404, json={"kind": "Status", "message": f"the server could not find {path}",
                                         "reason": "NotFound", "code": 404})
